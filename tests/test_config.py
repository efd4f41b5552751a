"""Config validation: every error names the file, the key and the problem; check-config prints what resolved."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gateway.config import ConfigError, load_config, parse_config
from meters.paths import data_dir

GOOD_MODEL = {"model_name": "m", "litellm_params": {"model": "openai/x", "api_base": "http://127.0.0.1:9/v1"}}


@pytest.mark.parametrize(
    ("raw", "key", "problem"),
    [
        ({}, "model_list", "non-empty list"),
        ({"model_list": [GOOD_MODEL], "surprise": 1}, "surprise", "unknown top-level key"),
        ({"model_list": [{"litellm_params": {"model": "x"}}]}, "model_list[0].model_name", "non-empty string"),
        ({"model_list": [GOOD_MODEL, GOOD_MODEL]}, "model_list[1] (m).model_name", "twice"),
        ({"model_list": [{"model_name": "m", "litellm_params": {}}]}, "model_list[0] (m).litellm_params.model", "non-empty"),
        ({"model_list": [{"model_name": "m", "litellm_params": {"model": "x", "api_base": "ftp://x"}}]},
         "model_list[0] (m).litellm_params.api_base", "http(s) URL"),
        ({"model_list": [{"model_name": "m", "litellm_params": {"model": "x", "api_base": "https://ex ample.com/v1"}}]},
         "model_list[0] (m).litellm_params.api_base", "http(s) URL"),
        ({"model_list": [{"model_name": "m", "litellm_params": {"model": "x", "api_base": "https:///v1"}}]},
         "model_list[0] (m).litellm_params.api_base", "http(s) URL"),
        ({"model_list": [{"model_name": "m", "litellm_params": {"model": "x", "api_base": "https://u:p@up.example/v1"}}]},
         "model_list[0] (m).litellm_params.api_base", "must not carry credentials"),
        ({"model_list": [{"model_name": "m", "litellm_params": {"model": "x", "api_key": "sk-1\r\nx-evil: 1"}}]},
         "model_list[0] (m).litellm_params.api_key", "without line breaks"),
        ({"model_list": [{"model_name": "m", "litellm_params": {"model": "x", "timeout": -1}}]},
         "model_list[0] (m).litellm_params.timeout", "positive number"),
        ({"model_list": [{"model_name": "m", "litellm_params": {"model": "x", "max_retries": 99}}]},
         "model_list[0] (m).litellm_params.max_retries", "0 to 10"),
        ({"model_list": [{**GOOD_MODEL, "model_info": {"input_cost_per_token": "cheap"}}]},
         "model_list[0] (m).model_info.input_cost_per_token", "number"),
        ({"model_list": [GOOD_MODEL], "router_settings": {"fallbacks": [{"m": ["nope"]}]}},
         "router_settings.fallbacks[0].m", "'nope' is not a configured model_name"),
        ({"model_list": [GOOD_MODEL], "gateway": {"max_body_bytes": 0}}, "gateway.max_body_bytes", "positive integer"),
        ({"model_list": [GOOD_MODEL], "carbon": {"body": "yes"}}, "carbon.body", "true or false"),
        ({"model_list": [GOOD_MODEL], "store": {"on_failure": "maybe"}}, "store.on_failure", "fail_open or fail_closed"),
        ({"model_list": [GOOD_MODEL], "store": {"prefix": "cg:{x}:"}}, "store.prefix", "must not contain braces"),
    ],
)  # fmt: skip
def test_errors_name_file_key_and_problem(raw: dict, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, "my.yaml")
    assert info.value.file == "my.yaml"
    assert info.value.key == key
    assert problem in info.value.reason
    assert str(info.value).startswith(f"my.yaml: {key}: ")


def test_env_secrets_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_UPSTREAM_KEY", "s3cret")
    config = parse_config({"model_list": [{"model_name": "m", "litellm_params": {
        "model": "openai/x", "api_key": "os.environ/MY_UPSTREAM_KEY"}}]}, "x.yaml")  # fmt: skip
    assert config.models[0].api_key == "s3cret"
    assert config.models[0].api_key_env == "MY_UPSTREAM_KEY"


def test_env_secret_with_a_stray_newline_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_UPSTREAM_KEY", "s3cret\n")  # `echo` into a secrets file, then exported
    with pytest.raises(ConfigError, match="MY_UPSTREAM_KEY: a stray newline") as info:
        parse_config({"model_list": [{"model_name": "m", "litellm_params": {
            "model": "openai/x", "api_key": "os.environ/MY_UPSTREAM_KEY"}}]}, "x.yaml")  # fmt: skip
    assert info.value.key == "model_list[0] (m).litellm_params.api_key"
    assert "s3cret" not in str(info.value)


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_list: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_check_config_on_the_packaged_default() -> None:
    result = run_cli("check-config", str(data_dir() / "gateway.yaml"))
    assert result.returncode == 0, result.stderr
    assert "(valid)" in result.stdout
    assert "demo: demo" in result.stdout
    assert "scaleway/llama-3.1-8b-instruct at https://api.scaleway.ai/v1" in result.stdout
    assert "method=" in result.stdout and "source:" in result.stdout


def test_check_config_reports_the_key_of_a_bad_carbon_block(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump({"model_list": [{**GOOD_MODEL, "carbon": {"method": "magic"}}]}))
    result = run_cli("check-config", str(path))
    assert result.returncode == 1
    assert "invalid config" in result.stderr
    assert "method" in result.stderr


def test_check_config_reports_a_provider_litellm_cannot_resolve(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(
        yaml.safe_dump(
            {"model_list": [{"model_name": "m", "litellm_params": {"model": "nosuchprovider-model"}}]}
        )
    )
    result = run_cli("check-config", str(path))
    assert result.returncode == 1
    assert "model_list[0] (m).litellm_params.model" in result.stderr


def test_serve_refuses_a_bad_config(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("model_list: []\n")
    result = run_cli("serve", "--config", str(path), "--port", "1")
    assert result.returncode == 2
    assert f"{path}: model_list: must be a non-empty list" in result.stderr


def test_every_default_scaleway_model_is_priced_in_euros() -> None:
    """Issue 12 item 3: LiteLLM's `scaleway/<org>/<model>` prices, or Scaleway's own EUR prices in the config."""
    result = run_cli("check-config", str(data_dir() / "gateway.yaml"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    prices = {lines[i - 1].split(":")[0].strip(" -"): line for i, line in enumerate(lines) if "price:" in line}
    # The demo model has no price; Voxtral has no published price in either source (said in the config).
    unpriced = {"demo", "voxtral-small-24b-2507"}
    assert len(prices) >= 13 and all("unpriced" in prices[name] for name in unpriced)
    assert all("EUR/M in" in line for name, line in prices.items() if name not in unpriced), prices
