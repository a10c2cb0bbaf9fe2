"""Dated parameters: the value in force on 1 January of the year, units checked, errors collected."""

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from settlement.config import ConfigError, load_config, resolve

SAMPLE = Path(__file__).resolve().parent.parent / "configs" / "sample-county.yaml"


def _write(tmp_path, mutate):
    raw = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    mutate(raw["parameters"])
    path = tmp_path / "county.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return load_config(path)


def test_sample_config_resolves_for_2025():
    resolved = resolve(load_config(SAMPLE))
    assert resolved.year == 2025
    assert resolved.params.public_health.per_capita_standard == Decimal("99")
    assert resolved.params.package.risk_reserve_rate == Decimal("0.05")
    assert "示医保发" in resolved.source("package.risk_reserve_rate")


def test_value_applies_from_its_date_until_the_next(tmp_path):
    config = load_config(SAMPLE)
    # public-health standard: 2024 → 94, 2025 → 99 (national standards)
    assert resolve(config, 2025).params.public_health.per_capita_standard == 99
    with pytest.raises(ConfigError):  # 2024 lacks the 2025-only chronic parameters
        resolve(config, 2024)


def test_missing_parameter_is_named_with_the_year(tmp_path):
    config = _write(tmp_path, lambda p: p["package"].pop("risk_reserve_rate"))
    with pytest.raises(ConfigError) as err:
        resolve(config)
    assert any("package.risk_reserve_rate" in p and "2025" in p for p in err.value.problems)


def test_expired_parameter_stops_the_run(tmp_path):
    def expire(p):
        p["dip"]["reimbursement_ratio"]["values"]["2025-01-01"] = None
    config = _write(tmp_path, expire)
    with pytest.raises(ConfigError) as err:
        resolve(config)
    assert any("dip.reimbursement_ratio" in p and "失效" in p for p in err.value.problems)


def test_wrong_unit_and_wrong_type_are_reported_together(tmp_path):
    def spoil(p):
        p["package"]["risk_reserve_rate"]["unit"] = "yuan"
        p["dip"]["low_bound"]["values"] = {"2023-01-01": "half"}
    config = _write(tmp_path, spoil)
    with pytest.raises(ConfigError) as err:
        resolve(config)
    text = "\n".join(err.value.problems)
    assert "package.risk_reserve_rate" in text and "ratio" in text
    assert "dip.low_bound" in text


def test_unknown_parameter_is_an_error(tmp_path):
    def add(p):
        p["package"]["reserve_rate_typo"] = {"unit": "ratio", "reference": "x", "values": {"2023-01-01": 0.1}}
    with pytest.raises(ConfigError) as err:
        resolve(_write(tmp_path, add))
    assert any("reserve_rate_typo" in p for p in err.value.problems)


def _overlay_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_overlay_replaces_its_leaves_and_inherits_the_rest(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_bytes(SAMPLE.read_bytes())
    over = _overlay_file(tmp_path, "scenario.yaml", """
base_config: base.yaml
scenario: reserve-4pct
parameters:
  package:
    risk_reserve_rate: {unit: ratio, reference: 测试文号, values: {2023-01-01: 0.04}}
""")
    config = load_config(over)
    resolved = resolve(config)
    # the overlay's leaf: 0.04 with its own reference; an inherited one: the base's 99 yuan
    assert resolved.params.package.risk_reserve_rate == Decimal("0.04")
    assert "测试文号" in resolved.source("package.risk_reserve_rate")
    assert resolved.params.public_health.per_capita_standard == Decimal("99")
    assert (config.county, config.settlement_year, config.scenario) == (
        load_config(base).county, 2025, "reserve-4pct")
    # the hash covers the base too: change the base, the overlay's hash changes
    before = config.sha256
    base.write_bytes(SAMPLE.read_bytes() + b"\n# edited\n")
    assert load_config(over).sha256 != before


def test_overlay_cycle_is_an_error(tmp_path):
    _overlay_file(tmp_path, "a.yaml", "base_config: b.yaml\nparameters: {}\n")
    _overlay_file(tmp_path, "b.yaml", "base_config: a.yaml\nparameters: {}\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "a.yaml")
    assert any("循环" in p for p in err.value.problems)


def test_overlay_with_a_missing_base_names_the_file(tmp_path):
    over = _overlay_file(tmp_path, "x.yaml", "base_config: nowhere.yaml\nparameters: {}\n")
    with pytest.raises(ConfigError) as err:
        load_config(over)
    assert err.value.path == str(over)  # the overlay is named, with the base it could not find
    assert any("base_config" in p and "nowhere.yaml" in p for p in err.value.problems)
