"""The bulletin's figures month by month (月度通报分月数据), recorded so a month reads only itself.

The monthly bulletin (:mod:`.bulletin`) reports the month, the month before, the quarter and
the year to date. Every figure it takes from the big tables is a sum over rows, so a period's
figure is the sum of its months' figures. Four figures, each one scan of one month:

* ``counts`` — the indicator scan (:meth:`~settlement.scan.Engine.indicator_counts_by_period`),
  by scope, without distinct persons (they do not add up: 县域内就诊率 *of persons* reads the
  year to date, see :func:`settlement.monthly.month_inputs.months_to_read`);
* ``lines`` — the expenditure scan (基金执行进度), by community;
* ``out_units`` and ``out_groups`` — cases and fund paid at the units outside the county, by
  unit (外转去向) and by DIP group (外转病种), and ``groups`` — cases by DIP group at every unit
  (the shares' denominators): the case flows (:meth:`~settlement.scan.Engine.case_flows`) summed;
* ``dip`` — the month's DIP cases at the budget point value by unit and community: cases and
  the **exact** sum of their points (a float64 is a dyadic fraction; the sum of the fractions
  is exact, :func:`exact_sums`), so CMI of any period is its months' exact sum, rounded once.

A month run records its own month in the run store (``month_figures``, revision 0009) with
the *basis* it was made from — SHA-256 of the code, the config, the small tables' files and the
scan engine (:func:`basis`). A later month run takes the months recorded on its own basis by
the run in force of each month (the latest succeeded, not superseded month run: the rule of
:mod:`.recorded`) and reads only the others. Example: the March run after January and
February were run reads March's rows; with February never run, it reads February and March.
"""

from __future__ import annotations

import hashlib
import os
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import sqlalchemy as sa

from settlement.scan import EXPENDITURE_SCAN_COLUMNS, INDICATOR_SCAN_COLUMNS

PERSONS = ("persons_all", "persons_in")
#: figure → (key columns, value columns); every value an int but dip's points (exact Fraction)
FIGURES = {
    "counts": (["scope"], [c for c in INDICATOR_SCAN_COLUMNS[1:] if c not in PERSONS]),
    "lines": (["community_id"], EXPENDITURE_SCAN_COLUMNS[1:]),
    "out_units": (["unit_id"], ["cases", "fund_paid"]),  # units outside the county
    "out_groups": (["dip_group"], ["cases", "fund_paid"]),  # at units outside the county
    "groups": (["dip_group"], ["cases"]),  # every unit
    "dip": (["unit_id", "community_id"], ["cases", "points"]),
}
EXACT = ("points",)
MARKER = "month"  # one row per recorded month, so a month without rows is recorded too
BIG_TABLES = ("inpatient_cases", "outpatient_claims")
WIDTH = 16  # v1 … v16 of the month_figures table (settlement/store/tables.py)
assert all(len([c for c in v if c not in EXACT]) <= WIDTH for _, v in FIGURES.values())


FINGERPRINT = "fingerprint"  # key1 = table, v1 … v8 (:mod:`.fingerprint`)


class Recorded(NamedTuple):
    frames: dict[str, pd.DataFrame]  # figure → month, keys, values
    runs: dict[str, str]  # month → run_id it was recorded by
    prints: dict = {}  # (month, table) → the rows' fingerprint as recorded (:mod:`.fingerprint`)
    changed: dict = {}  # month → tables: recorded, but its rows changed since: read again

    def without(self, changed: dict[str, list[str]], named: bool = True) -> "Recorded":
        """The months of ``changed`` left out (read from the data again), and named in
        ``changed`` (month → (run id, tables)) unless ``named`` is False."""
        changed = {m: t for m, t in changed.items() if m in self.runs}
        if not changed:
            return self
        keep = lambda f: f.loc[~f["month"].isin(list(changed)).to_numpy(bool)].reset_index(drop=True)  # noqa: E731
        return Recorded({k: keep(f) for k, f in self.frames.items()},
                        {m: r for m, r in self.runs.items() if m not in changed},
                        {k: v for k, v in self.prints.items() if k[0] not in changed},
                        {**self.changed, **({m: (self.runs[m], t) for m, t in changed.items() if t}
                                            if named else {})})


def month_list(month: str) -> list[str]:
    """January … ``month`` as YYYY-MM."""
    year, mon = (int(x) for x in month.split("-"))
    return [f"{year:04d}-{m:02d}" for m in range(1, mon + 1)]


def period_months(month: str) -> dict[str, list[str]]:
    """The bulletin's periods of the year (:func:`.bulletin_tables.windows`) as lists of months."""
    months = month_list(month)
    out = {"month": [month], "ytd": months}
    if len(months) > 1:
        out["last_month"] = [months[-2]]
    if len(months) % 3 == 0:
        out["quarter"] = months[-3:]
    return out


# ------------------------------------------------------------------ figures from the data
def from_data(tables: dict, dip_cases: pd.DataFrame, months: list[str], *, engine) -> dict[str, pd.DataFrame]:
    """figure → the frame of ``months`` (each month one window of the same scans) from the
    loader's tables and the DIP case rows (with ``discharge_date``)."""
    from settlement.monthly import bulletin_tables as bt

    ws = bt.scan_windows({m: bt.windows(m)["month"] for m in months})
    ip, op = bt.scan_table(tables["inpatient_cases"]), bt.scan_table(tables["outpatient_claims"])
    units = tables["units"]
    counts = engine.indicator_counts_by_period(ip, op, units, windows=ws, persons=False)
    lines = engine.expenditure_lines_by_period(dip_cases, ip, op, units, windows=ws)
    flows = pd.concat([engine.case_flows(ip, window=ws[m]).assign(period=m) for m in months],
                      ignore_index=True) if months else None
    groups = (flows.groupby(["period", "dip_group"], dropna=False, sort=True)["cases"].sum()
              .reset_index() if flows is not None else None)
    outside = bt._outside(flows, units) if flows is not None else None
    by = lambda frame, key: (frame.groupby(["period", key], dropna=False, sort=True)  # noqa: E731
                             [["cases", "fund_paid"]].sum().reset_index()) if frame is not None else None
    out = {"counts": counts, "lines": lines, "out_units": by(outside, "unit_id"),
           "out_groups": by(outside, "dip_group"), "groups": groups,
           "dip": _dip_figure(dip_cases, months)}
    return {f: _shaped(f, frame.rename(columns={"period": "month"}) if frame is not None else None)
            for f, frame in out.items()}


def _dip_figure(dip: pd.DataFrame, months: list[str]) -> pd.DataFrame:
    """month, unit_id, community_id, cases, exact Σ points of the DIP case rows."""
    day = pd.to_datetime(dip["discharge_date"]) if len(dip) else pd.Series(dtype="datetime64[ns]")
    month = day.dt.strftime("%Y-%m").astype("string")
    keep = month.isin(months).fillna(False).to_numpy(bool)
    rows = pd.DataFrame({"month": month[keep].to_numpy(object),
                         "unit_id": dip["unit_id"].astype("string")[keep].to_numpy(object),
                         "community_id": dip["community_id"].astype("string")[keep].to_numpy(object)})
    if not len(rows):
        return _shaped("dip", None)
    keys = pd.MultiIndex.from_frame(rows.fillna({"unit_id": "\0", "community_id": "\0"}))
    codes, uniques = pd.factorize(keys, sort=True)
    points = dip["points"].to_numpy("float64", na_value=np.nan)[keep]
    frame = pd.DataFrame(list(uniques), columns=["month", "unit_id", "community_id"]).replace("\0", pd.NA)
    frame["cases"] = np.bincount(codes, minlength=len(uniques)).astype("int64")
    frame["points"] = exact_sums(points, codes, len(uniques))
    return _shaped("dip", frame)


def exact_sums(values: np.ndarray, codes: np.ndarray, groups: int) -> list[Fraction]:
    """The exact sum of the float64 ``values`` of each group (``codes`` 0 … groups − 1; NaN
    counts 0, as pandas' sum). Each value is mantissa × 2**exponent; the mantissas (split in
    two 26/27-bit halves, so int64 sums cannot overflow) are summed per group and exponent."""
    x = np.nan_to_num(np.asarray(values, dtype="float64"), nan=0.0)
    m, e = np.frexp(x)
    mantissa = (m * 2.0 ** 53).astype(np.int64)
    parts = pd.DataFrame({"g": codes, "e": e.astype(np.int64) - 53,
                          "hi": mantissa >> 26, "lo": mantissa & ((1 << 26) - 1)})
    sums = parts.groupby(["g", "e"], sort=False)[["hi", "lo"]].sum()
    out = [Fraction(0)] * groups
    for (g, exp), hi, lo in zip(sums.index, sums["hi"], sums["lo"]):
        whole = (int(hi) << 26) + int(lo)
        out[g] += Fraction(whole * 2 ** exp) if exp >= 0 else Fraction(whole, 2 ** -exp)
    return out


def _shaped(figure: str, frame: pd.DataFrame | None) -> pd.DataFrame:
    """month, keys (string, <NA> kept), values (int64; points object Fractions), in that order."""
    keys, values = FIGURES[figure]
    if frame is None:
        frame = pd.DataFrame({c: [] for c in ["month", *keys, *values]})
    out = pd.DataFrame({"month": frame["month"].astype("string")})
    for c in keys:
        out[c] = frame[c].astype("string")
    for c in values:
        out[c] = (frame[c].astype(object) if c in EXACT else
                  frame[c].fillna(0).astype("int64"))
    return out.reset_index(drop=True)


# ------------------------------------------------------------------ periods of the figures
def combined(*parts: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The figures of several sources (recorded months, months read) as one set."""
    return {f: pd.concat([p[f] for p in parts if p and f in p], ignore_index=True)
            if any(p and f in p for p in parts) else _shaped(f, None) for f in FIGURES}


def summed(figures: dict[str, pd.DataFrame], figure: str, months: list[str],
           by: list[str] | None = None) -> pd.DataFrame:
    """The figure of the period ``months``: Σ by its keys (or ``by``), sorted by key, <NA> last."""
    keys, values = FIGURES[figure]
    by = by or keys
    frame = figures[figure]
    frame = frame.loc[frame["month"].isin(months).to_numpy(bool)]
    grouped = frame.groupby(by, dropna=False, sort=True)
    ints = [c for c in values if c not in EXACT]
    out = grouped[ints].sum() if ints else pd.DataFrame(index=grouped.size().index)
    for c in values:
        if c in EXACT:
            out[c] = grouped[c].agg(lambda s: sum(s, Fraction(0)))
    out = out.reset_index()
    for c in by:
        out[c] = out[c].astype("string")
    return out.sort_values(by, na_position="last", kind="stable").reset_index(drop=True)


def counts_frame(figures, months: list[str]) -> pd.DataFrame:
    """The indicator scan's frame (:data:`INDICATOR_SCAN_COLUMNS`, persons 0) of ``months``."""
    out = summed(figures, "counts", months)
    for c in PERSONS:
        out[c] = np.int64(0)
    return out[INDICATOR_SCAN_COLUMNS].astype({c: "int64" for c in INDICATOR_SCAN_COLUMNS[1:]})


def lines_frame(figures, months: list[str]) -> pd.DataFrame:
    """The expenditure scan's frame (:data:`EXPENDITURE_SCAN_COLUMNS`) of ``months``."""
    return summed(figures, "lines", months)[EXPENDITURE_SCAN_COLUMNS]


def outside_frames(figures, months: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cases and fund paid by unit outside the county, the same by DIP group) of ``months``."""
    return summed(figures, "out_units", months), summed(figures, "out_groups", months)


def group_cases(figures, months: list[str]) -> pd.Series:
    """Cases by DIP group (<NA>: unmatched) at every unit over ``months``."""
    per = summed(figures, "groups", months)
    return pd.Series(per["cases"].to_numpy("int64"), index=pd.Index(per["dip_group"]), name="cases")


def points_per_case(figures, key: str, months: list[str]) -> pd.DataFrame:
    """cases, points, per_case by ``key`` (unit_id or community_id) and the region (COUNTY)
    over ``months``, as :func:`.bulletin_tables.points_per_case` of those months' case rows:
    points the exact sum rounded once to float."""
    from settlement.monthly.bulletin_tables import COUNTY

    per = summed(figures, "dip", months, by=[key])
    total_cases, total_points = int(per["cases"].sum()), sum(per["points"], Fraction(0))
    per = per.loc[per[key].notna().to_numpy(bool)]
    grouped = pd.DataFrame({"cases": per["cases"].to_numpy("int64"),
                            "points": [float(p) for p in per["points"]]},
                           index=pd.Index(per[key].astype(str).to_numpy(object), name=key))
    grouped.loc[COUNTY] = [total_cases, float(total_points)]
    grouped["per_case"] = grouped["points"] / grouped["cases"].where(grouped["cases"] > 0)
    return grouped


# ------------------------------------------------------------------ the run store
def basis(data_dir: Path, config_sha256: str) -> str:
    """SHA-256 of what a month's figures depend on besides its own rows: the code (every .py
    and .yaml of the package), the config, the scan engine, and every file of the data folder
    that is not one of the two big tables (name and bytes)."""
    from settlement.loader import sha256_file
    from settlement.monthly.package_cache import _code_digest

    digest = hashlib.sha256(f"code {_code_digest()}\nconfig {config_sha256}\nengine "
                            f"{os.environ.get('SETTLEMENT_SCAN_ENGINE', '')}\n".encode())
    folder = Path(data_dir)
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if (not path.is_file() or any(p.startswith(".") for p in relative.parts)
                or relative.parts[0].split(".")[0] in BIG_TABLES):
            continue
        digest.update(f"file {relative.as_posix()} {sha256_file(path)}\n".encode())
    return digest.hexdigest()


def recorded_figures(engine: sa.Engine, county: str, year: int, scenario: str, before: str,
                     on_basis: str) -> Recorded:
    """The figures of the months before ``before`` whose run in force (latest succeeded, not
    superseded month run of the county-year and scenario) recorded them on ``on_basis``."""
    from settlement.store.tables import month_figures as mf, runs

    query = (sa.select(mf.c.run_id, mf.c.month, mf.c.figure, mf.c.key1, mf.c.key2, *VALUE_COLUMNS(mf),
                       mf.c.exact)
             .join(runs, runs.c.run_id == mf.c.run_id)
             .where(runs.c.kind == "month", runs.c.county == county, runs.c.year == int(year),
                    runs.c.scenario == scenario, runs.c.status == "succeeded",
                    runs.c.superseded_by.is_(None), runs.c.month < before,
                    runs.c.month == mf.c.month, mf.c.basis == on_basis)
             .order_by(mf.c.month, mf.c.figure, mf.c.row_no))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    names = ["run_id", "month", "figure", "key1", "key2", *[f"v{i}" for i in range(1, WIDTH + 1)], "exact"]
    columns = dict(zip(names, zip(*rows))) if rows else {n: () for n in names}
    figure = np.asarray(columns["figure"], dtype=object)
    marked = figure == MARKER
    runs_of = dict(zip(np.asarray(columns["month"], dtype=object)[marked],
                       np.asarray(columns["run_id"], dtype=object)[marked]))
    prints = {}
    for i in np.flatnonzero(figure == FINGERPRINT):
        values = [columns[f"v{j}"][i] for j in range(1, WIDTH + 1)]
        prints[(columns["month"][i], columns["key1"][i])] = tuple(int(v) for v in values if v is not None)
    return Recorded({f: _from_columns(f, columns, figure == f) for f in FIGURES}, runs_of, prints)


def _from_columns(figure: str, columns: dict, rows: np.ndarray) -> pd.DataFrame:
    keys, values = FIGURES[figure]
    if not rows.any():
        return _shaped(figure, None)
    pick = lambda name: np.asarray(columns[name], dtype=object)[rows]  # noqa: E731
    frame = pd.DataFrame({"month": pick("month"), **{k: pick(f"key{i + 1}") for i, k in enumerate(keys)}})
    ints = [c for c in values if c not in EXACT]
    for i, c in enumerate(ints):
        frame[c] = pick(f"v{i + 1}").astype("int64")
    for c in EXACT:
        if c in values:
            frame[c] = [Fraction(x) for x in pick("exact")]
    return _shaped(figure, frame)


def VALUE_COLUMNS(table) -> list:
    return [table.c[f"v{i}"] for i in range(1, WIDTH + 1)]


def save_figures(engine: sa.Engine, run_id: str, month: str, on_basis: str,
                 figures: dict[str, pd.DataFrame], prints: dict | None = None) -> int:
    """Record ``month``'s figures for ``run_id`` (one transaction); rows written. They count
    once the run has succeeded (:func:`recorded_figures`). ``prints``: (month, table) → the
    fingerprint of the month's rows of each big table (:mod:`.fingerprint`), recorded beside."""
    from settlement.monthly.fingerprint import DATED, money_columns, stored
    from settlement.store.db import insert_rows, write_transaction

    empty = [None] * WIDTH
    rows = [(run_id, MARKER, 0, month, on_basis, None, None, *empty, None)]
    for figure, (keys, values) in FIGURES.items():
        frame = figures[figure]
        frame = frame.loc[(frame["month"] == month).to_numpy(bool)].reset_index(drop=True)
        text = [frame[k].astype(object).where(frame[k].notna(), None).tolist() for k in keys]
        k1, k2 = text[0], (text[1] if len(keys) > 1 else [None] * len(frame))
        ints = [c for c in values if c not in EXACT]
        numbers = list(zip(*[frame[c].astype("int64").tolist() for c in ints])) or [()] * len(frame)
        exact = ([f"{Fraction(p).numerator}/{Fraction(p).denominator}" for p in frame["points"]]
                 if "points" in values else [None] * len(frame))
        pad = [None] * (WIDTH - len(ints))
        rows += [(run_id, figure, i, month, on_basis, k1[i], k2[i], *numbers[i], *pad, exact[i])
                 for i in range(len(frame))]
    if prints is not None:
        for i, table in enumerate(DATED):
            if table not in {t for _, t in prints}:
                continue  # not fingerprinted: the next month reads this month again
            values = stored(prints.get((month, table), (0, 0, *[0] * len(money_columns(table)))))
            rows.append((run_id, FINGERPRINT, i, month, on_basis, table, None, *values,
                         *[None] * (WIDTH - len(values)), None))
    columns = ["run_id", "figure", "row_no", "month", "basis", "key1", "key2",
               *[f"v{i}" for i in range(1, WIDTH + 1)], "exact"]
    with write_transaction(engine) as conn:
        insert_rows(conn, "month_figures", columns, rows,
                    ["text", "text", "int4", "text", "text", "text", "text", *["int8"] * WIDTH, "text"])
    return len(rows)
