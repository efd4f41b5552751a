"""Every route the gateway serves, in one place."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from gateway.config import ObservabilitySettings
from gateway.observability.endpoint import metrics_routes
from gateway.observability.metrics import Metrics
from gateway.routes import audio, carbon, health, models, proxy, requests
from gateway.routes.admin import admin_routes
from gateway.routes.reports import report_routes
from gateway.routes.usage import own_usage


def route_table(metrics: Metrics | None, observability: ObservabilitySettings) -> list[BaseRoute]:
    table: list[BaseRoute] = [
        Route("/v1/chat/completions", proxy.chat_completions, methods=["POST"]),
        Route("/v1/completions", proxy.completions, methods=["POST"]),
        Route("/v1/embeddings", proxy.embeddings, methods=["POST"]),
        Route("/v1/responses", proxy.responses_api, methods=["POST"]),
        Route("/v1/audio/transcriptions", audio.transcriptions, methods=["POST"]),
        Route("/v1/models", models.list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", models.get_model, methods=["GET"]),
        Route("/v1/carbon/estimate", carbon.estimate, methods=["POST"]),
        Route("/v1/carbon/track", carbon.track, methods=["POST"]),
        Route("/v1/carbon/models", carbon.models, methods=["GET"]),
        Route("/v1/carbon/usage", own_usage, methods=["GET"]),
        *report_routes(),
        Route("/v1/carbon/requests/{request_id:path}", requests.carbon_request, methods=["GET"]),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        *admin_routes(),
    ]
    if metrics is not None:
        table += metrics_routes(metrics, observability)
    return table
