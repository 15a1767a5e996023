from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alfred.cli import app
from alfred.config import ConfigError, load_settings
from alfred.secrets import SecretError, SecretResolver

GOOD = """\
providers:
  up: {kind: openai, base_url: "${UP_URL}/v1", api_key: env:UP_KEY}
models:
  - name: m
    deployments: [{provider: up, model: m-up}]
    price: {input_per_mtok: "0.15", output_per_mtok: "0.60"}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alfred.yaml"
    path.write_text(text)
    return path


def test_good_config_expands_env(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD), environ={"UP_URL": "http://h:1"})
    assert settings.providers["up"].base_url == "http://h:1/v1"
    assert settings.models[0].price is not None
    assert settings.models[0].price.input_per_mtok == Decimal("0.15")


def test_missing_env_var_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="UP_URL is not set"):
        load_settings(write(tmp_path, GOOD), environ={})


def test_default_in_env_expansion(tmp_path: Path) -> None:
    text = GOOD.replace("${UP_URL}", "${UP_URL:-http://fallback}")
    assert load_settings(write(tmp_path, text), environ={}).providers["up"].base_url == "http://fallback/v1"


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    text = GOOD + "retires: 3\n"
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), environ={"UP_URL": "x"})
    message = str(info.value)
    assert "alfred.yaml:7" in message
    assert "retires" in message
    assert "unknown setting" in message


def test_wrong_type_points_at_the_line(tmp_path: Path) -> None:
    text = GOOD.replace("model: m-up}", "model: m-up, weight: lots}")
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), environ={"UP_URL": "x"})
    assert "alfred.yaml:5" in str(info.value)
    assert "models.0.deployments.0.weight" in str(info.value)


def test_unknown_provider_reference(tmp_path: Path) -> None:
    text = GOOD.replace("provider: up,", "provider: nope,")
    with pytest.raises(ConfigError, match="unknown provider 'nope'"):
        load_settings(write(tmp_path, text), environ={"UP_URL": "x"})


def test_negative_price_refused(tmp_path: Path) -> None:
    text = GOOD.replace('"0.15"', '"-1"')
    with pytest.raises(ConfigError, match="negative"):
        load_settings(write(tmp_path, text), environ={"UP_URL": "x"})


def test_invalid_yaml_has_a_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"alfred.yaml:3: invalid YAML.*starts at line 2"):
        load_settings(write(tmp_path, "providers:\n  up: {kind: openai\n"), environ={})


def test_a_top_level_key_that_is_not_text_is_a_config_error(tmp_path: Path) -> None:
    # YAML allows `1: x` or `? [a]: x`; Python would fail with "keywords must be strings".
    with pytest.raises(ConfigError, match="top-level setting names must be text; found 1"):
        load_settings(write(tmp_path, "1: x\n"), environ={})


def test_env_overrides_beat_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALFRED_SERVER__PORT", "7001")
    monkeypatch.setenv("ALFRED_MASTER_KEY", "mk-1")
    settings = load_settings(write(tmp_path, GOOD + "server: {port: 8000}\n"), environ={"UP_URL": "x"})
    assert settings.server.port == 7001
    assert settings.master_key == "mk-1"


def test_secret_references(tmp_path: Path) -> None:
    secret_file = tmp_path / "key"
    secret_file.write_text("from-file\n")
    resolver = SecretResolver()
    assert resolver.resolve(f"file:{secret_file}") == "from-file"
    assert resolver.resolve("literal-value") == "literal-value"
    with pytest.raises(SecretError, match="ALFRED_TEST_NOPE"):
        resolver.resolve("env:ALFRED_TEST_NOPE")


def test_check_config_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UP_URL", "http://x")
    runner = CliRunner()
    ok = runner.invoke(app, ["check-config", str(write(tmp_path, GOOD))])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, ["check-config", str(write(tmp_path, GOOD + "bogus: 1\n"))])
    assert bad.exit_code == 2
    assert "bogus" in bad.output


@pytest.mark.parametrize("name", ["mock.yaml", "demo.yaml"])
def test_shipped_examples_validate(name: str) -> None:
    root = Path(__file__).resolve().parents[3]
    settings = load_settings(root / "examples" / name, environ={"ALFRED_MOCK_URL": "http://127.0.0.1:1"})
    assert settings.models
