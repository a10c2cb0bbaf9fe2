"""Sheet 参数 of 汇总.xlsx: every parameter as people write it (参数表).

One row per parameter used: its Chinese name (``label_zh``), the value as a finance officer
writes it — ratios as percentages, booleans 是/否, corridor bands and tiers as small tables,
one line per band (``0 – 10%：留用 100%``) — its unit in Chinese, the document it comes from
and the date it applies from. The dotted path is kept last for programmers.

Example: ``human_value(Decimal("0.05"), "ratio") == "5%"``; ``human_value(True, "bool") == "是"``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from settlement.wording import UNIT_ZH, human_value

def params_frame(trace: Mapping[str, object], sources: Mapping[str, str]) -> pd.DataFrame:
    """One row per parameter (label_zh, value, unit, reference, since, path)."""
    rows = []
    for path in sorted(trace or sources):
        t = trace.get(path) if trace else None
        if t is None:
            rows.append({"label_zh": path, "value": sources.get(path, ""), "unit_zh": "",
                         "reference": "", "since": "", "path": path})
            continue
        rows.append({"label_zh": t.label_zh or path, "value": human_value(t.value, t.unit),
                     "unit_zh": UNIT_ZH.get(t.unit, t.unit), "reference": t.reference,
                     "since": t.since.isoformat(), "path": path})
    return pd.DataFrame(rows, columns=["label_zh", "value", "unit_zh", "reference", "since", "path"])
