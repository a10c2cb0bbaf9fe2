"""Ids in two counties (跨县重复编号): a case or claim id found in more than one county's rows.

Each county validates its own rows, so an id repeated inside a county is found there; an id
written once for a patient of C01 and again for a patient of C02 is seen by neither. Before
any county is settled, :func:`cross_county_problems` looks for such ids over the split tables
(:mod:`.inputs`: one Parquet file per county) with DuckDB — out of core, with a memory limit
and a spill folder, never all rows in pandas (:func:`_candidates`) — and reports each as an error naming every
county, file and row where it occurs (the first :data:`LISTED` ids, then one line with the count).

Example: ``ZY0001`` in ``inpatient_cases.csv`` row 12 (community of C01) and row 345
(community of C02) → 住院病例编号 ZY0001 同时出现在 县（区）C01（inpatient_cases.csv 第 12 行）、
县（区）C02（inpatient_cases.csv 第 345 行）.
"""

from __future__ import annotations

from pathlib import Path

from settlement.problems import Problem

KEYS = {"inpatient_cases": ("case_id", "住院病例编号"), "outpatient_claims": ("claim_id", "门诊结算编号")}
LISTED = 20
MEMORY_LIMIT = "1GB"
#: hashes aggregated at once (≈ 13.8 M fit in 0.5 GB, measured)
BUCKET_ROWS = 8_000_000


def cross_county_problems(split, work: Path) -> list[Problem]:
    """An error for each case / claim id that occurs in the rows of two or more counties."""
    import duckdb

    out: list[Problem] = []
    tmp = work / "duckdb_tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(tmp / "ids.duckdb"),  # a file: the hashes of every id stay on disk
                         config={"memory_limit": MEMORY_LIMIT, "threads": 2,
                                 "temp_directory": str(tmp), "preserve_insertion_order": False})
    con.execute("SET enable_progress_bar = false")
    try:
        for table, (column, label) in KEYS.items():
            if table in split.files:
                out += _table_problems(con, table, column, label, split.files[table],
                                       split.sources[table])
    finally:
        con.close()
    return out


def _table_problems(con, table: str, column: str, label: str, files: dict, source) -> list[Problem]:
    counties = list(files)
    union = " UNION ALL ".join(
        f"SELECT {i}::INTEGER AS county, {column} AS id, _row FROM read_parquet('{_quoted(path)}')"
        for i, (path, rows) in enumerate(files.values()) if rows)
    if not union:
        return []
    con.execute(f"CREATE OR REPLACE TEMP VIEW r AS {union}")
    if not _candidates(con, sum(rows for _, rows in files.values())):
        return []
    con.execute("CREATE OR REPLACE TEMP TABLE twice AS SELECT id FROM r WHERE hash(id) IN (SELECT h FROM maybe) "
                "GROUP BY id HAVING min(county) <> max(county)")
    (count,) = con.execute("SELECT count(*) FROM twice").fetchone()
    if not count:
        return []
    found = con.execute(f"""SELECT r.id, r.county, min(r._row) FROM r
        JOIN (SELECT id FROM twice ORDER BY id LIMIT {LISTED}) t USING (id)
        GROUP BY r.id, r.county ORDER BY r.id, r.county""").fetchall()
    by_id: dict[str, list[tuple[str, int]]] = {}
    for value, county, row in found:
        by_id.setdefault(value, []).append((counties[county], int(row)))
    out = [_problem(table, column, label, value, places, source) for value, places in by_id.items()]
    if count > LISTED:
        out.append(Problem("region.id_two_counties", "error", table,
                           f"另有 {count - LISTED} 个{label}同时出现在两个以上县（区）的数据中（共 {count} 个）",
                           f"{count - LISTED} more {column} values occur in two or more counties",
                           file=source.file, column=column))
    return out


def _candidates(con, rows: int) -> int:
    """The 64-bit hashes of the ids found in two counties (table ``maybe``; a collision only
    adds a candidate, resolved on the ids themselves), their count.

    One aggregate over 150 M ids does not fit a memory limit (DuckDB: out of memory at 2 GB),
    so the hashes are written once to the database file (streamed, no aggregate), then
    aggregated bucket by bucket (``h % buckets``), each of ≤ BUCKET_ROWS hashes.
    """
    con.execute("CREATE OR REPLACE TABLE hashes AS SELECT hash(id) AS h, county::USMALLINT AS county "
                "FROM r WHERE id IS NOT NULL")
    con.execute("CREATE OR REPLACE TABLE maybe (h UBIGINT)")
    buckets = max(1, -(-rows // BUCKET_ROWS))
    for k in range(buckets):
        con.execute(f"INSERT INTO maybe SELECT h FROM hashes WHERE h % {buckets} = {k} "
                    "GROUP BY h HAVING min(county) <> max(county)")
    con.execute("DROP TABLE hashes")
    return con.execute("SELECT count(*) FROM maybe").fetchone()[0]


def _problem(table: str, column: str, label: str, value: str, places: list[tuple[str, int]],
             source) -> Problem:
    from settlement.region.inputs import located

    where = [(county, *located(source, row)) for county, row in places]
    said = "、".join(f"县（区）{c}（{f} 第 {r} 行）" for c, f, r in where)
    _, file, row = where[0]
    return Problem("region.id_two_counties", "error", table,
                   f"{label} {value} 同时出现在 {said}：一条记录只能属于一个县（区）（按参保人所属医共体划分），"
                   "请核对编号是否重复使用",
                   f"{column} {value} occurs in the rows of several counties: "
                   + ", ".join(f"{c} ({f} row {r})" for c, f, r in where),
                   file=file, row=row, column=column, value=str(value))


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
