"""What an installed package needs (issue 9, items 1, 2 and 15).

- every file the code reads at run time lives inside the package and is declared as package
  data, so a wheel or an sdist carries it (``.ci/run`` builds the wheel, installs it in a clean
  venv and runs the sample county from outside the source tree);
- no table definitions, a broken one, or a required table missing from the definitions or
  from the data folder is an error — never a pass, never a ``KeyError``;
- ``settlement validate`` and ``settlement run`` report the same warnings.
"""

from __future__ import annotations

import configparser
import importlib.resources
import re
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner

import settlement
from fixtures.tiny_county import tiny_county, write_folder
from settlement import schema
from settlement.cli import main
from settlement.loader import LoadResult
from settlement.pipeline import run_settlement, validate_inputs
from settlement.store.db import MIGRATIONS, alembic_config
from settlement.validation import REQUIRED_TABLES, required_table_problems

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(settlement.__file__).resolve().parent
CONFIG = ROOT / "configs" / "sample-county.yaml"

#: Source files that may look above the package, and why (nothing the engine needs to work)
ALLOWED_OUTSIDE = {"store/manifest.py": "the git commit of a checkout, for the manifest; absent when installed"}


# ---------------------------------------------------------------- item 1: resources in the package
def test_every_table_definition_ships_inside_the_package():
    assert schema.SCHEMA_DIR.resolve().parent == PACKAGE
    shipped = importlib.resources.files("settlement").joinpath("schemas")
    for name in schema.TABLES:
        assert shipped.joinpath(f"{name}.yaml").is_file(), name
    loaded = schema.contract()
    assert list(loaded)[:len(schema.TABLES)] == list(schema.TABLES)
    assert {p.stem for p in schema.SCHEMA_DIR.glob("*.yaml")} == set(loaded)


def test_migrations_are_a_package_inside_the_package():
    assert MIGRATIONS.resolve().parent == PACKAGE
    for sub in (MIGRATIONS, MIGRATIONS / "versions"):
        assert (sub / "__init__.py").is_file(), sub  # a regular package: setuptools ships it, no warning
    assert (MIGRATIONS / "env.py").is_file() and (MIGRATIONS / "script.py.mako").is_file()
    revisions = list(ScriptDirectory.from_config(alembic_config()).walk_revisions())
    files = [p for p in (MIGRATIONS / "versions").glob("*.py") if p.name != "__init__.py"]
    assert len(revisions) == len(files) >= 2


def _package_data_patterns() -> dict[str, list[str]]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    data = cfg["options.package_data"]
    return {pkg: [p.strip() for p in value.replace("\n", ",").split(",") if p.strip()]
            for pkg, value in data.items()}


def test_every_data_file_of_the_package_is_declared_as_package_data():
    """A template, schema or config under settlement/ that setup.cfg does not list would be
    missing from the wheel: every non-Python file must match a package_data pattern."""
    declared: set[Path] = set()
    for pkg, patterns in _package_data_patterns().items():
        base = ROOT.joinpath(*pkg.split("."))
        for pattern in patterns:
            declared |= {p.resolve() for p in base.glob(pattern) if p.is_file()}
    data_files = {p.resolve() for p in PACKAGE.rglob("*")
                  if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}
    assert data_files, "the package has data files (the schemas at least)"
    assert sorted(str(p.relative_to(PACKAGE)) for p in data_files - declared) == []


def test_every_folder_with_python_code_is_a_regular_package():
    """``packages = find:`` takes folders with ``__init__.py`` only; a folder of modules
    without one is left out of the wheel (and setuptools warns)."""
    missing = sorted(str(d.relative_to(PACKAGE)) for d in {p.parent for p in PACKAGE.rglob("*.py")}
                     if "__pycache__" not in d.parts and not (d / "__init__.py").is_file())
    assert missing == []


_ABOVE = re.compile(r"Path\(__file__\)(?:\.resolve\(\))?((?:\.parent)+|\.parents\[(\d+)\])")


def test_no_code_path_reads_above_the_package():
    """``Path(__file__)`` climbs at most to the package folder (the repo root is not installed)."""
    outside = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        for match in _ABOVE.finditer(path.read_text(encoding="utf-8")):
            levels = int(match.group(2)) + 1 if match.group(2) else match.group(1).count(".parent")
            if levels > len(rel.parts) and rel.as_posix() not in ALLOWED_OUTSIDE:
                outside.append(f"{rel}: {match.group(0)}")
    assert outside == []


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared_distributions() -> set[str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    lines = cfg["options"]["install_requires"].splitlines()
    for extra in cfg["options.extras_require"].values():
        lines += extra.splitlines()
    return {_canonical(re.split(r"[\s\[<>=!~;]", line.strip(), maxsplit=1)[0]) for line in lines if line.strip()}


def test_every_imported_library_is_a_declared_dependency():
    """A clean install gets only what setup.cfg names: a module imported by the package that
    arrives only as someone else's dependency (or not at all) breaks the installed command."""
    import ast
    import sys
    from importlib.metadata import packages_distributions

    modules = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    third_party = {m for m in modules if m not in sys.stdlib_module_names and m != "settlement"}
    distributions = packages_distributions()
    declared = _declared_distributions()
    undeclared = sorted(m for m in third_party
                        if not {_canonical(d) for d in distributions.get(m, [m])} & declared)
    assert undeclared == []


def test_the_committed_data_dictionary_is_up_to_date():
    from settlement import datadict

    assert datadict.is_up_to_date(ROOT / "docs" / "data-dictionary.md"), "run: settlement datadict"


# ---------------------------------------------------------------- item 2: missing definitions, tables
def _copy_schemas(target: Path, skip: tuple[str, ...] = ()) -> Path:
    target.mkdir()
    for path in schema.SCHEMA_DIR.glob("*.yaml"):
        if path.stem not in skip:
            (target / path.name).write_bytes(path.read_bytes())
    return target


def test_no_definitions_is_an_error_not_an_empty_contract(tmp_path):
    with pytest.raises(schema.ContractError) as caught:
        schema.load_contract(tmp_path)
    (problem,) = caught.value.problems
    assert (problem.rule, problem.severity) == ("contract.none", "error")
    assert "找不到数据表定义" in problem.message_zh and str(tmp_path) in problem.message_zh


def test_each_missing_or_broken_definition_is_named(tmp_path):
    folder = _copy_schemas(tmp_path / "schemas", skip=("inpatient_cases", "prepayments"))
    (folder / "units.yaml").write_text("table: units\ncolumns: [", encoding="utf-8")
    with pytest.raises(schema.ContractError) as caught:
        schema.load_contract(folder)
    found = sorted((p.rule, p.table) for p in caught.value.problems)
    assert found == [("contract.missing", "inpatient_cases"), ("contract.missing", "prepayments"),
                     ("contract.unreadable", "units")]
    assert all(p.severity == "error" and p.message_zh for p in caught.value.problems)


@pytest.fixture
def no_definitions(tmp_path, monkeypatch):
    """The package as an install that lost its schemas: an empty definitions folder."""
    empty = tmp_path / "no-schemas"
    empty.mkdir()
    monkeypatch.setattr(schema, "SCHEMA_DIR", empty)
    schema.contract.cache_clear()
    yield empty
    monkeypatch.undo()
    schema.contract.cache_clear()


def test_validate_without_definitions_fails(no_definitions, tmp_path):
    data = write_folder(tmp_path / "data")
    outcome = validate_inputs(CONFIG, data, tmp_path / "out")
    assert not outcome.ok
    assert [p.rule for p in outcome.problems if p.severity == "error"] == ["contract.none"]
    assert (tmp_path / "out" / "validation" / "问题清单.xlsx").is_file()


def test_run_without_definitions_fails_without_a_key_error(no_definitions, tmp_path):
    data = write_folder(tmp_path / "data")
    lines: list[str] = []
    outcome = run_settlement(CONFIG, data, tmp_path / "reports", f"sqlite:///{tmp_path / 'r.db'}",
                             progress=False, echo=lines.append)
    assert not outcome.ok
    assert "contract.none" in {p.rule for p in outcome.problems}
    assert not any("KeyError" in line for line in lines)


def test_datadict_without_definitions_fails_in_words(no_definitions, tmp_path):
    result = CliRunner().invoke(main, ["datadict", "--out", str(tmp_path / "dd.md")])
    assert result.exit_code == 1, result.output
    assert "找不到数据表定义" in result.output and not (tmp_path / "dd.md").exists()


def test_validate_on_an_empty_folder_lists_each_required_table(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    outcome = validate_inputs(CONFIG, empty, None)
    assert not outcome.ok
    missing = [p.table for p in outcome.problems if p.rule == "table.missing"]
    assert sorted(missing) == sorted(REQUIRED_TABLES)  # each once


def test_required_tables_are_the_contracts():
    """CONTRACT.md: required = yes for these eight; the definitions agree with the code."""
    assert {name for name, s in schema.contract().items() if s.required} == set(REQUIRED_TABLES)


def test_a_required_table_stays_required_when_its_definition_says_optional():
    schemas = dict(schema.contract())
    schemas["units"] = schemas["units"].model_copy(update={"required": False})
    problems = required_table_problems(LoadResult(), schemas)
    assert [p.table for p in problems if p.rule == "table.missing"] == list(REQUIRED_TABLES)
    del schemas["inpatient_cases"]
    rules = {p.table: p.rule for p in required_table_problems(LoadResult(), schemas)}
    assert rules["inpatient_cases"] == "contract.missing" and rules["units"] == "table.missing"


def test_a_table_the_loader_reported_is_not_reported_twice(tmp_path):
    data = write_folder(tmp_path / "data", skip=("units",))
    outcome = validate_inputs(CONFIG, data, None)
    assert [p.table for p in outcome.problems if p.rule == "table.missing"] == ["units"]


# ---------------------------------------------------------------- item 15: same warnings
def _key(p):
    return (p.rule, p.severity, p.table, p.file, p.row, p.column, p.value, p.message_zh)


def test_validate_and_run_report_the_same_warnings(tmp_path):
    tables = tiny_county()
    for row in tables["units"]:
        row["remark"] = "备注"  # an unknown column: a validation warning
    data = write_folder(tmp_path / "data", tables)
    checked = validate_inputs(CONFIG, data, None)
    lines: list[str] = []
    ran = run_settlement(CONFIG, data, tmp_path / "reports", f"sqlite:///{tmp_path / 'r.db'}",
                         progress=False, echo=lines.append)
    assert checked.ok and ran.ok, [p.message_zh for p in ran.problems if p.severity == "error"]
    warned = sorted(_key(p) for p in checked.problems if p.severity == "warning")
    assert warned == sorted(_key(p) for p in ran.problems if p.severity == "warning")
    rules = {w[0] for w in warned}
    assert any(r.startswith("column") for r in rules), rules  # from validation
    assert any(r.startswith("public_health.") for r in rules), rules  # from the settlement stages
    assert any(f"提示 {len(warned)} 条 warnings" in line for line in lines), lines


def test_validate_says_when_no_report_file_was_written(tmp_path):
    data = write_folder(tmp_path / "data")
    runner = CliRunner()
    plain = runner.invoke(main, ["validate", "--config", str(CONFIG), "--data", str(data)])
    assert plain.exit_code == 0, plain.output
    assert "未写出报告文件" in plain.output and "no report file written" in plain.output
    out = tmp_path / "out"
    written = runner.invoke(main, ["validate", "--config", str(CONFIG), "--data", str(data), "--out", str(out)])
    assert written.exit_code == 0, written.output
    assert "未写出报告文件" not in written.output and (out / "validation" / "问题清单.xlsx").is_file()
