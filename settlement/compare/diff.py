"""Side by side (方案对比): two runs' result tables → A, B and the difference, in fen.

Pure functions over the stored result frames (money int64 fen). A community's key figures,
each distribution tier's net amount and each unit's net statement balance are set side by
side::

    community_settlement  GT01 surplus_retained   A 117,576,873   B 56,436,899   Δ −61,139,974
    unit_distribution     GT01 village  Σ(surplus_share − overrun_share)  A, B, Δ
    unit_statement        line "net" of each unit                          A, B, Δ

A row present in one run only counts 0 on the other side and is flagged ``only_in``
(``A`` / ``B``), so a unit that joins a tier in scenario B is never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

COMMUNITY_ITEMS = {  # community_settlement column → Chinese label, in reading order
    "package": "打包额",
    "expenditure": "总支出",
    "balance": "结余(+)/超支(−)",
    "surplus_retained": "结余留用",
    "surplus_returned": "结余返还基金",
    "overrun_fund_share": "基金分担超支",
    "overrun_community_share": "医共体自担超支",
}
UNIT_ITEMS = {"net": "结算净额（单位应收+/应付−）", "surplus_share": "结余留用分配",
              "overrun_share": "超支分担"}


def side_by_side(a: pd.DataFrame, b: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """Outer join of ``value`` on ``keys``: columns keys…, a, b, diff (int64 fen), only_in."""
    left = a[keys + [value]].rename(columns={value: "a"})
    right = b[keys + [value]].rename(columns={value: "b"})
    both = left.merge(right, on=keys, how="outer", indicator=True, sort=False)
    both["only_in"] = both["_merge"].map({"left_only": "A", "right_only": "B", "both": ""}).astype(str)
    both = both.drop(columns="_merge")
    for side in ("a", "b"):
        both[side] = both[side].fillna(0).astype("int64")
    both["diff"] = both["b"] - both["a"]
    return both.reset_index(drop=True)


def compare_communities(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Long table: community_id, item, label_zh, a, b, diff — one row per key figure."""
    parts = []
    for item, label in COMMUNITY_ITEMS.items():
        part = side_by_side(a, b, ["community_id"], item)
        parts.append(part.assign(item=item, label_zh=label))
    frame = pd.concat(parts, ignore_index=True)
    order = {c: i for i, c in enumerate(pd.unique(pd.concat([a["community_id"], b["community_id"]])))}
    frame["_c"] = frame["community_id"].map(order)
    frame["_i"] = frame["item"].map({k: i for i, k in enumerate(COMMUNITY_ITEMS)})
    frame = frame.sort_values(["_c", "_i"], kind="stable").drop(columns=["_c", "_i"])
    return frame[["community_id", "item", "label_zh", "a", "b", "diff", "only_in"]].reset_index(drop=True)


def _tier_net(distribution: pd.DataFrame) -> pd.DataFrame:
    if distribution.empty:  # e.g. no community retained or bore anything
        return pd.DataFrame({"community_id": pd.Series(dtype=object), "tier": pd.Series(dtype=object),
                             "net": pd.Series(dtype="int64")})
    net = distribution["surplus_share"].astype("int64") - distribution["overrun_share"].astype("int64")
    frame = distribution.assign(net=net, community_id=distribution["community_id"].astype(str),
                                tier=distribution["tier"].astype(str))
    return frame.groupby(["community_id", "tier"], sort=False, as_index=False)["net"].sum()


def compare_tiers(a: pd.DataFrame, b: pd.DataFrame, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Per community and tier: Σ(surplus_share − overrun_share) of A and B and the change."""
    frame = side_by_side(_tier_net(a), _tier_net(b), ["community_id", "tier"], "net")
    labels = labels or {}
    frame["tier_label"] = [labels.get(t, t) for t in frame["tier"]]
    return frame[["community_id", "tier", "tier_label", "a", "b", "diff", "only_in"]]


def _unit_frame(statement: pd.DataFrame, distribution: pd.DataFrame) -> pd.DataFrame:
    net = statement.loc[statement["line"] == "net", ["unit_id", "amount"]].rename(columns={"amount": "net"})
    dist = distribution[["unit_id", "community_id", "tier", "surplus_share", "overrun_share"]]
    frame = net.merge(dist, on="unit_id", how="outer")
    for col in ("net", "surplus_share", "overrun_share"):
        frame[col] = frame[col].fillna(0).astype("int64")
    frame["unit_id"] = frame["unit_id"].astype(str)
    return frame


def compare_units(statement_a: pd.DataFrame, statement_b: pd.DataFrame, distribution_a: pd.DataFrame,
                  distribution_b: pd.DataFrame, names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Per unit: net balance (statement line ``net``) and its distribution shares, A | B | Δ.

    Sorted by the size of the change of the net balance (largest first), then unit id.
    """
    ua, ub = _unit_frame(statement_a, distribution_a), _unit_frame(statement_b, distribution_b)
    frame = side_by_side(ua, ub, ["unit_id"], "net")
    for col in ("surplus_share", "overrun_share"):
        part = side_by_side(ua, ub, ["unit_id"], col)[["unit_id", "a", "b", "diff"]]
        frame = frame.merge(part.rename(columns={"a": f"{col}_a", "b": f"{col}_b", "diff": f"{col}_diff"}),
                            on="unit_id", how="left")
    about = pd.concat([ub, ua]).drop_duplicates("unit_id")[["unit_id", "community_id", "tier"]]
    frame = frame.merge(about, on="unit_id", how="left")
    names = names or {}
    frame.insert(1, "unit_name", [names.get(u, "") for u in frame["unit_id"]])
    frame["_abs"] = frame["diff"].abs()
    frame = frame.sort_values(["_abs", "unit_id"], ascending=[False, True], kind="stable")
    return frame.drop(columns="_abs").reset_index(drop=True)
