"""Gateway configs the suites share: models against the fake upstream, and the demo stack for metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.support.ports import free_port

UPSTREAM_KEY = "upstream-secret-key"
# A coefficient the tests can recompute by hand (seed 002 arithmetic: tokens / 1000 × g/1k).
TEST_COEFFICIENT = 1.5


def proxy_models(upstream_port: int, dead_port: int) -> list[dict[str, Any]]:
    base = f"http://127.0.0.1:{upstream_port}/v1"
    fake = {
        "model": "openai/fake-model",
        "api_base": base,
        "api_key": UPSTREAM_KEY,
        "timeout": 5,
        "max_retries": 2,
    }
    coefficient = {
        "gco2e_per_1k_tokens": TEST_COEFFICIENT,
        "confidence": "estimated",
        "source": "test coefficient",
    }
    return [
        {"model_name": "fake", "litellm_params": fake, "carbon": coefficient},
        {"model_name": "mistral-large-2", "litellm_params": {**fake, "model": "openai/mistral-large-2"}},
        {"model_name": "no-retry", "litellm_params": {**fake, "max_retries": 0}, "carbon": coefficient},
        {"model_name": "slow", "litellm_params": {**fake, "timeout": 0.5, "max_retries": 0}},
        {
            "model_name": "dead",
            "litellm_params": {**fake, "api_base": f"http://127.0.0.1:{dead_port}/v1", "max_retries": 1},
        },
        {
            "model_name": "dead-with-fallback",
            "litellm_params": {**fake, "api_base": f"http://127.0.0.1:{dead_port}/v1", "max_retries": 0},
        },
        {"model_name": "mystery", "litellm_params": {**fake, "model": "openai/some-model-nobody-knows"}},
        {"model_name": "demo", "litellm_params": {"model": "demo/carbon-gateway-demo"}},
    ]


def proxy_config(upstream_port: int, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "model_list": proxy_models(upstream_port, free_port()),
        "router_settings": {"fallbacks": [{"dead-with-fallback": ["fake"]}]},
        "gateway": {"max_body_bytes": 65536},
    }
    config.update(extra)
    return config


def gateway_config(path: Path, dead_port: int) -> None:
    config = {
        "model_list": [
            {
                "model_name": "demo",
                "litellm_params": {"model": "demo/carbon-gateway-demo"},
                # A price, so that the spend panels have something to show.
                "model_info": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
            },
            {
                # Nothing listens there: every call is a connection error, answered 502.
                "model_name": "broken",
                "litellm_params": {
                    "model": "openai/broken",
                    "api_base": f"http://127.0.0.1:{dead_port}/v1",
                    "api_key": "not-a-real-key",
                    "max_retries": 0,
                },
            },
        ],
        "observability": {"metrics_path": "/metrics"},
    }
    path.write_text(yaml.safe_dump(config))
