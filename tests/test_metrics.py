"""Metrics against a fresh registry: names, labels, units, cardinality bounds."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from gateway.config import ConfigError, ObservabilitySettings, parse_config
from gateway.observability.metrics import OTHER_MODEL, Metrics
from meters.carbon.estimate import Estimate
from meters.usage import UsageRecord


def make_record(**overrides: object) -> UsageRecord:
    estimate = Estimate(
        gco2e=0.25,
        gco2e_min=0.1,
        gco2e_max=0.5,
        energy_wh=0.002,
        water_ml=3.5,
        usage_gco2e=0.2,
        embodied_gco2e=0.05,
        method="coefficient",
        boundary="usage",
        confidence="estimated",
        source="test",
        catalogue_version="t1",
        water_boundary="onsite+grid",
    )
    fields: dict[str, object] = {
        "request_id": "req-1",
        "timestamp": 1_700_000_000.0,
        "tenant_id": "acme",
        "model": "demo",
        "provider": "demo",
        "upstream_model": "demo",
        "prompt_tokens": 12,
        "completion_tokens": 30,
        "estimate": estimate,
        "spend": 0.0042,
        "currency": "EUR",
        "latency_s": 0.12,
        "overhead_s": 0.0004,
    }
    fields.update(overrides)
    return UsageRecord(**fields)  # type: ignore[arg-type]


def make_metrics(**settings: object) -> tuple[Metrics, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = Metrics(ObservabilitySettings(**settings), ["demo", "llama-3.1-8b-instruct"], registry=registry)  # type: ignore[arg-type]
    return metrics, registry


def test_observe_request_counts_every_family_in_base_units() -> None:
    metrics, registry = make_metrics()
    metrics.observe_request(make_record())
    metrics.observe_request(make_record(prompt_tokens=8, completion_tokens=2))
    value = registry.get_sample_value
    labels = {"tenant": "acme", "model": "demo"}
    assert value("carbon_gateway_requests_total", {**labels, "provider": "demo", "status": "200"}) == 2
    assert value("carbon_gateway_tokens_total", {**labels, "type": "input"}) == 20
    assert value("carbon_gateway_tokens_total", {**labels, "type": "output"}) == 32
    assert value(
        "carbon_gateway_emissions_grams_total", {**labels, "method": "coefficient", "boundary": "usage"}
    ) == pytest.approx(0.5)
    # 0.002 Wh per request -> 7.2 J each
    assert value("carbon_gateway_energy_joules_total", labels) == pytest.approx(14.4)
    water = {**labels, "water_boundary": "onsite+grid"}
    assert value("carbon_gateway_water_litres_total", water) == pytest.approx(0.007)
    assert value("carbon_gateway_spend_total", {**labels, "currency": "EUR"}) == pytest.approx(0.0084)
    duration = {"model": "demo", "stream": "false"}
    assert value("carbon_gateway_request_duration_seconds_count", duration) == 2
    assert value("carbon_gateway_request_duration_seconds_sum", duration) == pytest.approx(0.24)
    assert value("carbon_gateway_overhead_seconds_count", {}) == 2
    assert value("carbon_gateway_overhead_seconds_bucket", {"le": "0.0005"}) == 2
    assert value("carbon_gateway_overhead_seconds_bucket", {"le": "0.00025"}) == 0
    # No stream, no TTFT observation.
    assert value("carbon_gateway_time_to_first_token_seconds_count", duration) is None


def test_streams_record_time_to_first_token() -> None:
    metrics, registry = make_metrics()
    metrics.observe_request(make_record(stream=True, ttft_s=0.03, latency_s=0.9))
    labels = {"model": "demo", "stream": "true"}
    assert registry.get_sample_value("carbon_gateway_time_to_first_token_seconds_count", labels) == 1
    assert (
        registry.get_sample_value(
            "carbon_gateway_time_to_first_token_seconds_bucket", {**labels, "le": "0.05"}
        )
        == 1
    )
    assert registry.get_sample_value("carbon_gateway_request_duration_seconds_sum", labels) == pytest.approx(
        0.9
    )


def test_unknown_energy_and_water_are_not_counted_as_zero_series() -> None:
    metrics, registry = make_metrics()
    record = make_record()
    estimate = record.estimate
    record.estimate = Estimate(**{**estimate.as_dict(), "energy_wh": None, "water_ml": None})
    metrics.observe_request(record)
    assert (
        registry.get_sample_value("carbon_gateway_energy_joules_total", {"tenant": "acme", "model": "demo"})
        is None
    )
    assert (
        registry.get_sample_value(
            "carbon_gateway_water_litres_total", {"tenant": "acme", "model": "demo", "water_boundary": "None"}
        )
        is None
    )
    assert registry.get_sample_value(
        "carbon_gateway_emissions_grams_total",
        {"tenant": "acme", "model": "demo", "method": "coefficient", "boundary": "usage"},
    ) == pytest.approx(0.25)


def test_unknown_models_are_grouped_as_other() -> None:
    metrics, registry = make_metrics()
    for name in ("client-invented-1", "client-invented-2", "llama-3.1-8b-instruct"):
        metrics.observe_request(make_record(model=name))
    metrics.observe_failure(
        tenant="acme", model="nope", provider="unknown", status=404, stream=False, latency_s=0.001
    )
    models = {
        sample.labels["model"]
        for family in registry.collect()
        for sample in family.samples
        if "model" in sample.labels
    }
    assert models == {OTHER_MODEL, "llama-3.1-8b-instruct"}
    assert (
        registry.get_sample_value(
            "carbon_gateway_tokens_total", {"tenant": "acme", "model": OTHER_MODEL, "type": "output"}
        )
        == 60
    )


def test_max_models_caps_distinct_model_labels() -> None:
    registry = CollectorRegistry()
    known = [f"m{i}" for i in range(10)]
    metrics = Metrics(ObservabilitySettings(max_models=3), known, registry=registry)
    for name in known:
        metrics.observe_request(make_record(model=name))
    labels = {
        sample.labels["model"]
        for sample in next(f for f in registry.collect() if f.name == "carbon_gateway_requests").samples
    }
    assert labels == {"m0", "m1", "m2", OTHER_MODEL}


def test_tenant_label_off_collapses_tenants_and_hides_budgets() -> None:
    metrics, registry = make_metrics(tenant_label=False)
    metrics.observe_request(make_record(tenant_id="a"))
    metrics.observe_request(make_record(tenant_id="b"))
    metrics.observe_rejection(tenant="c", reason="carbon_budget_exceeded")
    metrics.set_budget_remaining(tenant="a", kind="gco2e", value=10.0)
    tenants = {
        sample.labels["tenant"]
        for family in registry.collect()
        for sample in family.samples
        if "tenant" in sample.labels
    }
    assert tenants == {"all"}
    assert (
        registry.get_sample_value(
            "carbon_gateway_requests_total",
            {"tenant": "all", "model": "demo", "provider": "demo", "status": "200"},
        )
        == 2
    )
    assert (
        registry.get_sample_value("carbon_gateway_budget_remaining", {"tenant": "a", "kind": "gco2e"}) is None
    )


def test_failures_errors_rejections_budgets_and_store_health() -> None:
    metrics, registry = make_metrics()
    metrics.observe_failure(
        tenant="acme", model="demo", provider="demo", status=502, stream=True, latency_s=2.0
    )
    metrics.observe_upstream_error(model="demo", provider="scaleway", code="timeout")
    metrics.observe_rejection(tenant="acme", reason="rate_limit_exceeded")
    metrics.set_budget_limit(tenant="acme", kind="gco2e", value=100.0)
    metrics.set_budget_remaining(tenant="acme", kind="gco2e", value=80.0)
    metrics.set_budget_remaining(tenant="acme", kind="gco2e", value=15.5)
    metrics.set_store_up(False)
    value = registry.get_sample_value
    assert (
        value(
            "carbon_gateway_requests_total",
            {"tenant": "acme", "model": "demo", "provider": "demo", "status": "502"},
        )
        == 1
    )
    assert value("carbon_gateway_request_duration_seconds_count", {"model": "demo", "stream": "true"}) == 1
    assert (
        value(
            "carbon_gateway_upstream_errors_total",
            {"model": "demo", "provider": "scaleway", "code": "timeout"},
        )
        == 1
    )
    assert value("carbon_gateway_rejections_total", {"tenant": "acme", "reason": "rate_limit_exceeded"}) == 1
    assert value("carbon_gateway_budget_remaining", {"tenant": "acme", "kind": "gco2e"}) == 15.5
    assert value("carbon_gateway_budget_limit", {"tenant": "acme", "kind": "gco2e"}) == 100.0
    assert value("carbon_gateway_store_up", {"backend": "redis"}) == 0.0
    metrics.set_store_up(True)
    assert value("carbon_gateway_store_up", {"backend": "redis"}) == 1.0


def test_render_is_valid_exposition_with_help_and_types() -> None:
    metrics, _ = make_metrics()
    metrics.observe_request(make_record(stream=True, ttft_s=0.01))
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    expected_types = {
        "carbon_gateway_requests": "counter",
        "carbon_gateway_tokens": "counter",
        "carbon_gateway_emissions_grams": "counter",
        "carbon_gateway_energy_joules": "counter",
        "carbon_gateway_water_litres": "counter",
        "carbon_gateway_spend": "counter",
        "carbon_gateway_upstream_errors": "counter",
        "carbon_gateway_rejections": "counter",
        "carbon_gateway_request_duration_seconds": "histogram",
        "carbon_gateway_time_to_first_token_seconds": "histogram",
        "carbon_gateway_overhead_seconds": "histogram",
        "carbon_gateway_budget_remaining": "gauge",
        "carbon_gateway_budget_limit": "gauge",
        "carbon_gateway_store_up": "gauge",
    }
    assert {name: families[name].type for name in expected_types} == expected_types
    assert all(families[name].documentation for name in expected_types)
    assert b"_created" not in body


DEMO_MODEL = {"model_name": "demo", "litellm_params": {"model": "demo/carbon-gateway-demo"}}


def observability(block: object) -> ObservabilitySettings:
    return parse_config({"model_list": [DEMO_MODEL], "observability": block}, "gw.yaml").observability


def test_settings_parse_and_name_the_bad_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_TOKEN_FOR_TEST", "s3cret")
    settings = observability(
        {"metrics_port": 9464, "metrics_bearer_token": "os.environ/METRICS_TOKEN_FOR_TEST", "log_level": "DEBUG"}
    )
    assert settings.metrics_port == 9464
    assert settings.metrics_bearer_token == "s3cret"
    assert settings.log_level == "debug"
    assert observability(None) == ObservabilitySettings()
    bad = {
        "metrics_port": 0,
        "max_models": -1,
        "tenant_label": "yes",
        "metrics_path": "metrics",
        "log_level": "loud",
        "otlp_endpoint": "grpc://x",
        "surprise": 1,
        "metrics_bearer_token": "os.environ/SURELY_NOT_SET_VARIABLE_X",
    }
    for key, raw in bad.items():
        with pytest.raises(ConfigError, match=rf"gw\.yaml: observability\.{key}: "):
            observability({key: raw})
    with pytest.raises(ConfigError, match="must be a mapping"):
        observability(["metrics_port"])


def test_multiprocess_dir_set_after_import_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    # This test process imported prometheus_client in single-process mode; silently keeping
    # per-worker values would under-count, so construction must fail loudly.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with pytest.raises(RuntimeError, match="PROMETHEUS_MULTIPROC_DIR"):
        Metrics(ObservabilitySettings(), ["demo"])
