"""Hostile inputs for a pooling-region run (issue 13 §7–9): the mistakes a bureau clerk makes.

Each mistake must end in ONE clear report in Chinese (file, row as the user sees it, column,
rule), an exit code ≠ 0, nothing that looks finished (no county folder or region summary, no
run shown as running or succeeded in the run store) and never a traceback.

* Config mistakes run on copies of the committed ``configs/sample-region.yaml`` and its county
  configs (no data read): each problem said once, in words.
* Data mistakes run on a region generated at scale 0.01 (3 counties, CSV) and changed cell by
  cell; the rows expected are computed here from the CSV text.

Covered elsewhere and not repeated: a case id in two counties, one county failing validation
(tests/test_region_checks.py); a unit id of two counties at the level of ``region_problems``
(tests/test_region_checks.py); every county at the region point value (tests/test_region.py).
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from fixtures.csv_rows import read_rows, write_rows
from settlement.cli import main
from settlement.config import ConfigError
from settlement.region.config import county_setups, load_region

ROOT = Path(__file__).resolve().parents[1]
SCALE = 0.01


# ---------------------------------------------------------------- config mistakes
@pytest.fixture
def region_file(tmp_path) -> Path:
    """A copy of the committed sample region config and its county configs."""
    shutil.copy(ROOT / "configs" / "sample-region.yaml", tmp_path / "sample-region.yaml")
    shutil.copytree(ROOT / "configs" / "sample-region", tmp_path / "sample-region")
    return tmp_path / "sample-region.yaml"


def _edit(path: Path, pattern: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    changed = re.sub(pattern, new, text, count=1, flags=re.M)
    assert changed != text, pattern
    path.write_text(changed, encoding="utf-8")


def _leaf(name: str, value: str) -> tuple[str, str]:
    """(pattern, replacement) giving the first dated value of dip leaf ``name`` the text ``value``."""
    return rf"^(    {name}:\n(?:      .*\n)*?        \d{{4}}-\d\d-\d\d: ).*$", rf"\g<1>{value}"


def _problems(region_file: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        county_setups(load_region(region_file))
    return caught.value.problems


C03 = r"^- county_id: C03\n  config: sample-region/C03.yaml$"
CONFIG_MISTAKES = {
    # name: (file edited (relative to the region file's folder), pattern, new text, said)
    "yaml syntax": ("sample-region.yaml", r"^counties:$", "counties: [", "YAML 格式错误"),
    "county twice": ("sample-region.yaml", C03,
                     "- county_id: C03\n  config: sample-region/C03.yaml\n"
                     "- county_id: C03\n  config: sample-region/C03.yaml", "第 4 个县（区）编码 C03 重复"),
    "one config for two counties": ("sample-region.yaml", r"sample-region/C03\.yaml", "sample-region/C02.yaml",
                                    "县（区）C03 与 C02 使用同一个配置文件 sample-region/C02.yaml"),
    "config not found": ("sample-region.yaml", r"sample-region/C03\.yaml", "sample-region/C3.yaml",
                         "县（区）C03 的配置文件不存在：sample-region/C3.yaml"),
    "not a county config": ("sample-region.yaml", r"sample-region/C03\.yaml", "sample-region.yaml",
                            "缺少顶层字段 `county`"),
    "another year": ("sample-region/C02.yaml", r"^settlement_year: 2025$", "settlement_year: 2026",
                     "结算年度 2026 与区域配置的 2025 不一致"),
    "county year as text": ("sample-region/C02.yaml", r"^settlement_year: 2025$", "settlement_year: 2025年",
                            "顶层字段 `settlement_year` 应写成四位数的年份（如 2025），文件中为 '2025年'"),
    "region key typo": ("sample-region.yaml", r"^scenario: base$", "senario: base",
                        "区域配置中有未知字段 `senario`（是否拼写有误？"),
    "county entry key typo": ("sample-region.yaml", r"^  config: sample-region/C02\.yaml$",
                              "  confg: sample-region/C02.yaml", "未知字段 `counties 第 2 项.confg`"),
    "county config key typo": ("sample-region/C02.yaml", r"^scenario: base$", "senario: base",
                               "C02.yaml：未知顶层字段 `senario`"),
    "parameters key typo": ("sample-region.yaml", r"^parameters:$", "paramters:",
                            "区域配置中有未知字段 `paramters`"),
    "county id as a number": ("sample-region.yaml", r"^- county_id: C01$", "- county_id: 0101",
                              "`counties 第 1 项.county_id` 有误：应为文字（以 0 开头或全为数字的编码请加引号"),
    "dip leaf typo": ("sample-region.yaml", r"^    low_bound:$", "    lowbound:", "未知参数 `dip.lowbound`"),
    "point value mode misspelt": ("sample-region.yaml", *_leaf("point_value_mode", "computd"),
                                  "`dip.point_value_mode` 在 2025 年的取值 'computd' 无效"),
    "budget missing": ("sample-region.yaml", r"^    fund_budget:\n(?:      .*\n)+?(?=    reimbursement_ratio:)",
                       "", "缺少参数 `dip.fund_budget`（2025 年结算需要）"),
    "budget zero": ("sample-region.yaml", *_leaf("fund_budget", "0"), "`dip.fund_budget` 在 2025 年的取值 0 无效"),
    "budget negative": ("sample-region.yaml", *_leaf("fund_budget", "-98250000"), "应大于 0"),
    "budget as text": ("sample-region.yaml", *_leaf("fund_budget", "1,234万元"),
                       "`dip.fund_budget` 在 2025 年的取值 '1,234万元' 无效"),
    "ratio zero": ("sample-region.yaml", *_leaf("reimbursement_ratio", "0"), "`dip.reimbursement_ratio`"),
    "ratio above one": ("sample-region.yaml", *_leaf("reimbursement_ratio", "67"), "应不大于 1"),
}


@pytest.mark.parametrize("name", list(CONFIG_MISTAKES))
def test_a_config_mistake_is_said_once_in_chinese(region_file, name):
    file, pattern, new, said = CONFIG_MISTAKES[name]
    _edit(region_file.parent / file, pattern, new)
    problems = _problems(region_file)
    assert [p for p in problems if said in p], problems
    assert len(problems) == len(set(problems)), problems  # a region leaf is not said per county
    assert all(re.search(r"[\u4e00-\u9fff]", p) for p in problems), problems


def test_the_region_dip_problems_are_said_once_not_once_per_county(region_file):
    _edit(region_file, *_leaf("point_value_mode", "computd"))
    (problem,) = _problems(region_file)  # three counties resolve the region's dip: one problem
    assert "只能取 'computed', 'published' or 'region'" in problem and str(region_file) in problem


def test_a_zero_or_negative_budget_is_refused_before_any_point_value(region_file):
    # it used to run to the end: point value 0.0000 (or −0.0000) 元/分 and a run shown as succeeded
    _edit(region_file, *_leaf("fund_budget", "0"))
    (problem,) = _problems(region_file)
    assert "应大于 0" in problem


def test_a_budget_written_as_text_says_how_to_write_it(region_file):
    _edit(region_file, *_leaf("fund_budget", "1,234万元"))
    (problem,) = _problems(region_file)
    assert "应写成数字（按参数的单位，如元；不带千分位逗号、“万元”等单位或汉字" in problem


@pytest.mark.parametrize("content, said", [
    ("", "区域配置文件应为键值结构"), ("- C01\n- C02\n", "区域配置文件应为键值结构"),
    ("region: 示例市\nsettlement_year: 2025\ncounties: []\nparameters: {dip: {}}\n",
     "`counties` 有误：至少需要 1 项"),
])
def test_an_empty_or_shapeless_region_file_is_said_in_words(region_file, content, said):
    region_file.write_text(content, encoding="utf-8")
    (problem,) = _problems(region_file)
    assert said in problem


def test_a_region_file_saved_in_gbk_says_save_it_as_utf8(region_file):
    region_file.write_bytes(region_file.read_text(encoding="utf-8").encode("gbk"))
    (problem,) = _problems(region_file)
    assert "文件不是 UTF-8 编码" in problem


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_config_mistake_stops_the_command_with_the_report_and_no_run(region_file, tmp_path, command):
    _edit(region_file, *_leaf("fund_budget", "-1"))
    out, db = tmp_path / "out", tmp_path / "runs.db"
    args = [command, "--region", str(region_file), "--data", str(tmp_path / "data")]
    if command == "run":
        args += ["--out", str(out), "--db", f"sqlite:///{db}", "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "`dip.fund_budget`" in result.output and "Traceback" not in result.output
    assert not out.exists() and not db.exists()  # nothing recorded, nothing written


# ---------------------------------------------------------------- data mistakes
@pytest.fixture(scope="module")
def region_dir(tmp_path_factory) -> Path:
    from settlement.sample.region import generate_region

    out = tmp_path_factory.mktemp("hostile") / "data"
    generate_region(out, 3, scale=SCALE)
    return out


def _copy(region_dir: Path, to: Path) -> Path:
    shutil.copytree(region_dir, to)
    return to


_rows, _write = read_rows, write_rows  # tests/fixtures/csv_rows.py


def _validate(folder: Path, out: Path, *extra: str, data: Path | None = None):
    """``settlement validate --region``: (exit code, output, 问题清单 as read, columns named in English)."""
    result = CliRunner().invoke(main, ["validate", "--region", str(folder / "region.yaml"), "--data",
                                       str(data or folder), "--out", str(out), *extra])
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (
        result.exception)
    sheet = pd.read_excel(out / "validation" / "问题清单.xlsx", sheet_name="问题清单", dtype=str)
    sheet.columns = [c.split()[-1] for c in sheet.columns]
    return result.exit_code, result.output, sheet


def _run(folder: Path, base: Path, *extra: str, data: Path | None = None):
    """``settlement run --region``: (exit code, output, run folder or None, run store rows)."""
    db = base / "runs.db"
    result = CliRunner().invoke(main, ["run", "--region", str(folder / "region.yaml"), "--data",
                                       str(data or folder), "--out", str(base / "out"), "--db",
                                       f"sqlite:///{db}", "--quiet", *extra])
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (
        result.exception)
    runs = list((base / "out").iterdir()) if (base / "out").exists() else []
    with sqlite3.connect(db) as conn:
        store = conn.execute("SELECT run_id, status, kind FROM runs").fetchall()
    return result.exit_code, result.output, (runs[0] if runs else None), store


def _looks_unfinished(run_dir: Path, store: list[tuple]) -> None:
    left = {p.name for p in run_dir.iterdir()}
    assert not left & {"C01", "C02", "C03", "区域汇总.xlsx", ".split", ".stored"}, left
    assert [(r, s) for r, s, _ in store] == [(run_dir.name, "failed")]


def test_a_city_hospital_missing_from_the_units_names_every_row_treated_there(region_dir, tmp_path):
    folder = _copy(region_dir, tmp_path / "data")
    units = _rows(folder / "units.csv")
    scope = units[0].index("scope")
    city = next(r[0] for r in units[1:] if r[scope] == "city")
    _write(folder / "units.csv", [r for r in units if r[0] != city])
    expected = set()
    for table in ("inpatient_cases", "outpatient_claims"):
        rows = _rows(folder / f"{table}.csv")
        at = rows[0].index("unit_id")
        expected |= {(f"{table}.csv", str(i + 1)) for i, r in enumerate(rows) if i and r[at] == city}
    assert expected  # the sample treats patients at every city hospital
    exit_code, output, sheet = _validate(folder, tmp_path / "report")
    assert exit_code == 1 and "Traceback" not in output
    errors = sheet.loc[sheet["severity"].str.contains("error|错误")]
    assert set(zip(errors["file"], errors["row"])) == expected
    assert set(errors["column"]) == {"unit_id"} and set(errors["value"]) == {city}
    assert errors["rule"].str.contains("在「医疗机构」表（units.unit_id）中不存在").all()


def test_a_unit_written_for_two_counties_with_other_attributes_names_both(region_dir, tmp_path):
    folder = _copy(region_dir, tmp_path / "data")
    units = _rows(folder / "units.csv")
    head = units[0]
    at = next(i for i, r in enumerate(units) if i and r[head.index("county_id")] == "C02"
              and r[head.index("category")] == "township_center")
    twin = list(units[at])
    twin[head.index("county_id")], twin[head.index("unit_name")] = "C03", "永河县另一卫生院"
    twin[head.index("community_id")] = next(r[head.index("community_id")] for r in units[1:]
                                            if r[head.index("county_id")] == "C03")
    _write(folder / "units.csv", units + [twin])
    exit_code, output, sheet = _validate(folder, tmp_path / "report")
    assert exit_code == 1 and "Traceback" not in output
    (problem,) = sheet.loc[sheet["id"] == "region.unit_two_counties"].to_dict("records")
    assert (problem["file"], problem["row"], problem["value"]) == ("units.csv", str(at + 1), units[at][0])
    assert f"县（区）C02（第 {at + 1} 行）、县（区）C03（第 {len(units) + 1} 行）" in problem["rule"]


def test_a_county_of_the_region_file_without_data_is_one_error(region_dir, tmp_path):
    folder = _copy(region_dir, tmp_path / "data")
    shutil.copy(folder / "counties" / "C03.yaml", folder / "counties" / "C04.yaml")
    _edit(folder / "region.yaml", r"^(- county_id: C03\n  config: counties/C03.yaml)$",
          r"\1\n- county_id: C04\n  config: counties/C04.yaml")
    exit_code, output, sheet = _validate(folder, tmp_path / "report")
    assert exit_code == 1
    (problem,) = sheet.to_dict("records")
    assert (problem["id"], problem["file"], problem["value"]) == ("region.county_empty", "communities.csv", "C04")
    assert "区域配置中的县（区）C04 在医共体表中没有医共体" in problem["rule"]


@pytest.mark.parametrize("data", ["empty", "missing"])
def test_an_empty_or_missing_data_folder_fails_the_run_in_words(region_dir, tmp_path, data):
    folder = tmp_path / "config"
    folder.mkdir()
    shutil.copy(region_dir / "region.yaml", folder / "region.yaml")
    shutil.copytree(region_dir / "counties", folder / "counties")
    given = tmp_path / data
    if data == "empty":
        given.mkdir()
    exit_code, output, run_dir, store = _run(folder, tmp_path, data=given)
    assert exit_code == 1 and "Traceback" not in output
    said = "缺少必需的数据表「医疗机构」" if data == "empty" else f"数据目录不存在：{given}"
    assert said in output
    _looks_unfinished(run_dir, store)


# ---------------------------------------------------------------- one county failing, 1 or 2 workers
@pytest.fixture(scope="module")
def c02_fails(region_dir, tmp_path_factory) -> tuple[Path, int]:
    """The region with one claim of C02 whose amount is text: (folder, its CSV row)."""
    folder = _copy(region_dir, tmp_path_factory.mktemp("c02") / "data")
    claims = _rows(folder / "outpatient_claims.csv")
    at = claims[0].index("community_id")
    row = next(i for i, r in enumerate(claims) if i and r[at].startswith("C02"))
    claims[row][claims[0].index("total_cost")] = "十二元"
    _write(folder / "outpatient_claims.csv", claims)
    return folder, row + 1


@pytest.fixture(scope="module")
def c02_runs(c02_fails, tmp_path_factory):
    folder, _ = c02_fails
    return {w: _run(folder, tmp_path_factory.mktemp(f"w{w}"), "--workers", str(w)) for w in (1, 2)}


def _said(output: str, run_id: str) -> str:
    """The output without what differs by design: the run id, the database's path."""
    lines = [s for s in output.splitlines() if not s.startswith("数据库 database:")]
    return "\n".join(lines).replace(run_id, "<run>")


def test_one_county_failing_fails_the_region_the_same_with_one_or_two_workers(c02_fails, c02_runs):
    _, row = c02_fails
    sheets = {}
    for workers, (exit_code, output, run_dir, store) in c02_runs.items():
        assert exit_code == 1 and "Traceback" not in output, output
        assert f"outpatient_claims.csv 第 {row} 行 row {row} · total_cost = \"十二元\"" in output
        _looks_unfinished(run_dir, store)
        sheets[workers] = pd.read_excel(run_dir / "validation" / "问题清单.xlsx", sheet_name=None, dtype=str)
    (_, one, dir1, _), (_, two, dir2, _) = c02_runs[1], c02_runs[2]
    assert _said(one, dir1.name).replace("（1 进程", "（2 进程") == _said(two, dir2.name)
    assert sheets[1].keys() == sheets[2].keys()
    for name in sheets[1]:
        pd.testing.assert_frame_equal(sheets[1][name], sheets[2][name])


# ---------------------------------------------------------------- cross-county care; a region of one
@pytest.fixture(scope="module")
def clean_run(region_dir, tmp_path_factory):
    exit_code, output, run_dir, store = _run(region_dir, tmp_path_factory.mktemp("clean"))
    assert exit_code == 0, output
    return run_dir, store


def test_cross_county_care_is_priced_not_rejected(region_dir, clean_run):
    run_dir, store = clean_run
    assert [s for _, s, _ in store] == ["succeeded"]
    cases = pd.read_csv(region_dir / "inpatient_cases.csv", dtype=str)
    units = pd.read_csv(region_dir / "units.csv", dtype=str).set_index("unit_id")
    home = pd.read_csv(region_dir / "communities.csv", dtype=str).set_index("community_id")["county_id"]
    treated = cases["unit_id"].map(units["county_id"])
    across = cases.loc[treated.notna() & treated.ne(cases["community_id"].map(home))]
    assert len(across)  # C01's insured at C02's hospitals and so on
    hospitals = pd.read_csv(run_dir / "results" / "region_dip_hospitals.csv", dtype=str).set_index("unit_id")
    for unit_id, n in across["unit_id"].value_counts().items():
        own = cases.loc[cases["unit_id"].eq(unit_id)]
        scored = int(hospitals.loc[unit_id, "cases"]) + int(hospitals.loc[unit_id, "excluded_cases"])
        assert scored == len(own)  # every case at the hospital, whoever's insured
    sheet = pd.read_excel(run_dir / "validation" / "问题清单.xlsx", sheet_name="问题清单", dtype=str)
    assert not sheet.iloc[:, 0].astype(str).str.contains("错误|error").any()


def test_a_region_of_one_county_is_the_county_run(tmp_path):
    """One county, no city hospital: the region run's county results are the county run's (the
    county config with the region's dip), byte for byte — but for one label of the DIP ledger."""
    from settlement.sample.region import generate_region

    folder = tmp_path / "data"
    generate_region(folder, 1, scale=SCALE)
    units = pd.read_csv(folder / "units.csv", dtype=str, keep_default_na=False)
    city = set(units.loc[units["scope"] == "city", "unit_id"])
    units.loc[units["scope"] != "city"].to_csv(folder / "units.csv", index=False)
    for table in ("inpatient_cases", "outpatient_claims"):
        frame = pd.read_csv(folder / f"{table}.csv", dtype=str, keep_default_na=False)
        frame.loc[~frame["unit_id"].isin(city)].to_csv(folder / f"{table}.csv", index=False)
    region = yaml.safe_load((folder / "region.yaml").read_text(encoding="utf-8"))
    county = yaml.safe_load((folder / "counties" / "C01.yaml").read_text(encoding="utf-8"))
    county["parameters"]["dip"] = region["parameters"]["dip"]
    (folder / "county.yaml").write_text(yaml.safe_dump(county, allow_unicode=True, sort_keys=False),
                                        encoding="utf-8")
    exit_code, output, run_dir, _ = _run(folder, tmp_path / "region")
    assert exit_code == 0, output
    result = CliRunner().invoke(main, ["run", "--config", str(folder / "county.yaml"), "--data", str(folder),
                                       "--out", str(tmp_path / "county"), "--db",
                                       f"sqlite:///{tmp_path / 'county.db'}", "--quiet"])
    assert result.exit_code == 0, result.output
    (county_dir,) = (tmp_path / "county").iterdir()
    ours, theirs = run_dir / "C01" / "results", county_dir / "results"
    names = sorted(p.name for p in theirs.glob("*.csv"))
    assert names == sorted(p.name for p in ours.glob("*.csv"))
    for name in names:
        if name != "dip_ledger.csv":
            assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name
    region_ledger = pd.read_csv(ours / "dip_ledger.csv", dtype=str)
    county_ledger = pd.read_csv(theirs / "dip_ledger.csv", dtype=str)
    label = [c for c in county_ledger.columns if (region_ledger[c] != county_ledger[c]).any()]
    assert len(label) == 1  # the rounding line: 公布点值与预算折算总额差额 / 点值取整差额
    pd.testing.assert_frame_equal(region_ledger.drop(columns=label), county_ledger.drop(columns=label))
