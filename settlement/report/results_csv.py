"""Result tables as CSV (``reports/<run_id>/results/*.csv``), money as yuan with two decimals.

The contract tables (CONTRACT.md "Outputs of a run") are written with exactly the columns the
database stores (contract columns + ``explanation``, ``unit_statement.payer``), so a CSV and
the database agree row for row; the supporting tables (the DIP ledger, per-fund balances, the
bureau view, the checks) are written whole. Money is known by column kind, never guessed from a dtype: the contract's
kinds come from :data:`settlement.store.tables.RESULT_SPECS`, the supporting tables' money
columns are listed below. Text that starts with ``=``, ``+``, ``-``, ``@``, tab or CR (a unit
named ``=HYPERLINK(…)``) is written with a leading ``'`` (OWASP CSV injection); money columns
are never touched, so ``-12.50`` stays a number. No run id and no timestamp appear in a file, so the same inputs and
config give identical bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from settlement.money import format_yuan
from settlement.store.tables import RESULT_SPECS

SUPPORTING_MONEY: dict[str, tuple[str, ...]] = {
    "dip_ledger": ("amount",),
    "unit_funds": ("entitlement", "prepaid", "balance"),
    "bureau_units": ("dip", "package", "chronic", "public_health", "paid_by_fund",
                     "paid_by_community", "paid_by_health_commission", "net", "total"),
    "community_flows": tuple(),  # every column but the id
    "reconciliation_checks": ("left", "right"),
    "public_health_pools": ("gross", "reserved", "amount", "allocated", "unallocated"),
    "public_health_plan": ("quarter_pool", "planned", "prepaid", "difference"),  # issue 10.5
    "chronic_units": ("surplus_share", "overrun_share", "net"),
    "expenditure": tuple(),  # filled below: every expenditure_* column
    "bureau_communities": tuple(),  # every column but ids and names
    # issue 11 (H6): claims audit and package lines
    "claims_audit_totals": ("overpaid", "underpaid", "difference"),
    "family_doctor_fees": ("amount",),
    "dual_targets": ("retained_before", "retained_after", "returned"),
    "village_guarantee": ("guarantee", "guaranteed", "settlement_income", "family_doctor_fees",
                          "subsidy"),
}
_TEXT = {"community_id", "community_name", "unit_id", "unit_name"}


def money_columns(name: str, frame: pd.DataFrame) -> list[str]:
    if name in RESULT_SPECS:
        return [c for c, kind in RESULT_SPECS[name].columns if kind == "money" and c in frame]
    if name == "expenditure":
        return [c for c in frame.columns if c.startswith("expenditure")]
    if name in ("bureau_communities", "community_flows"):
        return [c for c in frame.columns if c not in _TEXT]
    return [c for c in SUPPORTING_MONEY.get(name, ()) if c in frame]


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP CSV injection: cells Excel would run


def escape_formula(values: pd.Series) -> pd.Series:
    """Text cells starting with = + - @ (or tab / CR) get a leading ``'`` so Excel shows them
    as text and never evaluates them (OWASP "CSV injection"); other cells are unchanged."""
    text = values.astype("string")
    risky = text.str.startswith(FORMULA_START).fillna(False).astype(bool)
    if not risky.any():
        return values
    return values.astype(object).where(~risky, "'" + text.astype(object))


def csv_frame(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as written: the stored columns for contract tables, yuan text for money,
    text that could run as a formula escaped (amounts stay plain numbers)."""
    if name in RESULT_SPECS:
        frame = frame[[c for c in RESULT_SPECS[name].column_names if c in frame.columns]]
    out = frame.copy()
    money = money_columns(name, out)
    for column in out.columns:
        if column not in money and (pd.api.types.is_string_dtype(out[column])
                                    or out[column].dtype == object):
            out[column] = escape_formula(out[column])
    for column in money if len(out) else ():  # an empty table has nothing to format
        values = out[column]
        text = format_yuan(values.fillna(0).astype("int64"))
        out[column] = text.where(values.notna(), "")
    return out


def write_results(results_dir: Path, tables: Mapping[str, pd.DataFrame],
                  names: list[str]) -> dict[str, Path]:
    """Write the named tables as UTF-8 CSV (with BOM, so Excel opens Chinese correctly)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in names:
        if name not in tables:
            continue
        path = results_dir / f"{name}.csv"
        csv_frame(name, tables[name]).to_csv(path, index=False, encoding="utf-8-sig",
                                             lineterminator="\n")
        paths[name] = path
    return paths
