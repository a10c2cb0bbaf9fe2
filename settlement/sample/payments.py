"""Money already paid during the year (预付款) and approved overrun reasons (合理超支).

Prepayments, in whole yuan:

* ``dip`` — monthly DIP pre-settlement (月度预结算) to every member unit that treats
  inpatients: Σ fund_paid of its cases discharged that month × a unit rate U(0.90, 0.95).
  A unit whose cases drew 1,000,000.00 元 of fund in March at rate 0.92 got 920,000.00 元
  for period ``2025-03``;
* ``public_health`` — quarterly (``2025Q1``..``2025Q4``), the basic pool as the quarterly
  prepayment plan (季度预拨方案) of the sample config's ``public_health.plan_*`` rule makes it:
  the engine's own plan (:func:`settlement.stages.public_health.settle_public_health`, so there
  is one implementation of the rule), on the generated work points. With ``plan_rule:
  by_assessed_work_points`` and no work points of 2024, Q1 is equal within each tier and Q2–Q4
  follow the quarter before; the year's allocation (by the four quarters' own assessments)
  differs from the sum, so year-end clearing goes both ways;
* ``package`` — two advances of the package to each community (年初预付周转金):
  ``2025-01`` one twelfth of the package (to 10,000 元) and ``2025-07`` half that;
* ``chronic`` — quarterly to each community: ¼ × 90 % of the in-enrolment fund spend of its
  enrollees without excluded conditions (childbirth admissions left out).

Overrun adjustments: two approved reasons for GT02, the overrun community — a 医保待遇
政策调整 of 0.9 % of its package (示医保发〔2025〕12号) and an epidemic 0.3 %
(示卫健发〔2025〕7号).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .cases import Cases
from .chronic import Enrollees
from .claims import Claims
from .common import YEAR, Table, ids, month_index, stream, whole_yuan
from .county import County
from .scores import public_health_workpoints_table

CHRONIC_PREPAID = 0.90
OVERRUN_REASONS = (  # (community position, reason, share of package, document)
    (1, "policy_change", 0.009, "示医保发〔2025〕12号"),
    (1, "epidemic", 0.003, "示卫健发〔2025〕7号"),
)


def prepayments_table(seed: int, county: County, enrollees: Enrollees, cases: Cases,
                      claims: Claims, wp_rows: np.ndarray, wp_points: np.ndarray,
                      wp_quality: np.ndarray) -> Table:
    rng = stream(seed, "prepayments")
    rows: list[tuple[str, str, str, int]] = []
    rows += _dip(rng, county, cases)
    rows += _package(county)
    rows += _public_health(seed, county, wp_rows, wp_points, wp_quality)
    rows += _chronic(county, enrollees, cases, claims)
    payee, fund, period, amount = (list(col) for col in zip(*rows))
    return (Table("prepayments")
            .add("payment_id", "id", ids("YF", np.arange(1, len(rows) + 1), 6))
            .add("payee_id", "id", payee)
            .add("fund", "id", fund)
            .add("period", "id", period)
            .add("amount", "money", np.array(amount, dtype=np.int64)))


def _dip(rng: np.random.Generator, county: County, cases: Cases) -> list[tuple]:
    n_units = len(county.unit_id)
    member = cases.member
    key = cases.unit_row[member] * 12 + month_index(cases.discharge[member])
    monthly = np.bincount(key, weights=cases.fund_fen[member].astype(np.float64),
                          minlength=n_units * 12).reshape(n_units, 12)
    rate = rng.uniform(0.90, 0.95, n_units)
    paid = whole_yuan(np.round(monthly * rate[:, None]))
    return [(county.unit_id[u], "dip", f"{YEAR}-{m + 1:02d}", int(paid[u, m]))
            for u in range(n_units) for m in range(12) if paid[u, m] > 0]


def _package(county: County) -> list[tuple]:
    rows = []
    for c, cid in enumerate(county.community_ids):
        package = county.official_fen[c] or int(county.package_fen[c])
        advance = package // 12 // 1_000_000 * 1_000_000
        rows += [(cid, "package", f"{YEAR}-01", advance),
                 (cid, "package", f"{YEAR}-07", advance // 2 // 100 * 100)]
    return [row for row in rows if row[3] > 0]


def _public_health(seed: int, county: County, wp_rows: np.ndarray, wp_points: np.ndarray,
                   wp_quality: np.ndarray) -> list[tuple]:
    """The basic pool's quarterly plan per unit (fen), in unit row then quarter order."""
    from settlement.config import load_config, resolve
    from settlement.init_folder import SAMPLE_CONFIG
    from settlement.stages.public_health import settle_public_health

    params = resolve(load_config(SAMPLE_CONFIG), YEAR).params.public_health
    units = _units_frame(county)
    plan = settle_public_health(
        communities=pd.DataFrame({"community_id": pd.array(county.community_ids, dtype="string"),
                                  "resident_population": county.residents.astype(np.int64)}),
        units=units, workpoints=_workpoints_frame(seed, county, wp_rows, wp_points, wp_quality),
        prepayments=None, params=params, year=YEAR).plan
    basic = plan[(plan["pool"] == "basic") & (plan["planned"] > 0)]
    row_of = {u: i for i, u in enumerate(county.unit_id)}
    rows = sorted(zip(basic["unit_id"].astype(str), basic["quarter"].astype(str), basic["planned"]),
                  key=lambda r: (row_of[r[0]], r[1]))
    return [(unit_id, "public_health", quarter, int(fen)) for unit_id, quarter, fen in rows]


def _units_frame(county: County) -> pd.DataFrame:
    return pd.DataFrame({"unit_id": pd.array(county.unit_id, dtype="string"),
                         "community_id": pd.array(county.community, dtype="string"),
                         "category": pd.array(county.category, dtype="string")})


def _workpoints_frame(seed: int, county: County, rows: np.ndarray, points: np.ndarray,
                      quality: np.ndarray) -> pd.DataFrame:
    """public_health_workpoints as the loader reads it back (the same values, both pools)."""
    table = public_health_workpoints_table(county, rows, points, quality, seed)
    return pd.DataFrame({name: (pd.array(values, dtype="string") if table.kinds[name] == "id"
                                else np.asarray(values, dtype=np.float64))
                         for name, values in table.columns.items()})


def enrolled_spend_fen(enrollees: Enrollees, code: np.ndarray, date: np.ndarray,
                       fund_fen: np.ndarray, communities: int = 2) -> np.ndarray:
    """Fund spend per community of rows that fall inside an eligible enrolment."""
    pos = np.searchsorted(enrollees.code, code)
    pos = np.minimum(pos, len(enrollees.code) - 1)
    lo, hi = enrollees.in_year_bounds()
    hit = ((enrollees.code[pos] == code) & (enrollees.excluded_mask[pos] == 0)
           & (date >= lo[pos]) & (date <= hi[pos]))
    return np.bincount(enrollees.community[pos][hit], weights=fund_fen[hit].astype(np.float64),
                       minlength=communities)


def _chronic(county: County, enrollees: Enrollees, cases: Cases, claims: Claims) -> list[tuple]:
    if len(enrollees.code) == 0:
        return []
    keep = ~cases.childbirth
    n_comm = len(county.community_ids)
    spend = (enrolled_spend_fen(enrollees, claims.code, claims.date, claims.fund_fen, n_comm)
             + enrolled_spend_fen(enrollees, cases.code[keep], cases.discharge[keep],
                                  cases.fund_fen[keep], n_comm))
    quarterly = whole_yuan(np.round(spend * CHRONIC_PREPAID / 4))
    return [(cid, "chronic", f"{YEAR}Q{q}", int(quarterly[c]))
            for c, cid in enumerate(county.community_ids) for q in range(1, 5)]


def overrun_adjustments_table(county: County) -> Table:
    ids_, communities, reasons, amounts, docs = [], [], [], [], []
    for k, (c, reason, share, doc) in enumerate(OVERRUN_REASONS, start=1):
        package = county.official_fen[c] or int(county.package_fen[c])
        ids_.append(f"OA{YEAR}{k:03d}")
        communities.append(county.community_ids[c])
        reasons.append(reason)
        amounts.append(int(whole_yuan(np.array([round(package * share)]))[0]))
        docs.append(doc)
    return (Table("overrun_adjustments")
            .add("adjustment_id", "id", ids_)
            .add("community_id", "id", communities)
            .add("reason", "id", reasons)
            .add("amount", "money", np.array(amounts, dtype=np.int64))
            .add("document_ref", "text", docs))
