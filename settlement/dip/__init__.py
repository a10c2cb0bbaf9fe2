"""DIP / DRG settlement of inpatient cases (按病种分值付费 / 疾病诊断相关分组付费).

``codes`` (ids → integer codes), ``methods`` (the variants as lookup tables: DIP / DRG,
point value methods), ``scoring`` (ratio, class, points per case; special and unmatched
rules as tables), ``dated`` (parameters that change inside the year, by discharge date),
``scan`` (the two DIP scans of the scan engines — per-case scores, Σ per unit out of core —
and their numpy reference; in SQL, one query for DuckDB and Spark:
``settlement/scan/dip_query.py`` and ``dip_flow.py``), ``settle`` (point value, unit
settlement), ``cases`` (the case list and sums), ``explain`` (why, in Chinese: a table by
case class), ``ledger``, ``stage`` (the stage: ``settle_dip``; cases on disk scored by the
engine).
"""
