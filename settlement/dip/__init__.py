"""DIP / DRG settlement of inpatient cases (按病种分值付费 / 疾病诊断相关分组付费).

``codes`` (ids → integer codes), ``scoring`` (ratio, class, points per case), ``dated``
(parameters that change inside the year, by discharge date), ``settle`` (point value, unit
settlement), ``cases`` (the case list and sums), ``explain`` (why, in Chinese), ``ledger``,
``stage`` (the stage: ``settle_dip``).
"""
