"""A fake Scaleway Product Catalog API on loopback, for `carbon-gateway catalogue pull-scaleway` tests.

Answers `GET /product-catalog/v2alpha1/public-catalog/products` in the documented shape (scaleway-sdk-python
`product_catalog/v2alpha1`): `{products: [...], total_count}`, paged with `page` (from 1) and `page_size`
(>= 1, else 400), optionally filtered by `product_types`. Runs on its own thread (the client is synchronous)::

    with FakeScalewayCatalog([genai_product("gpt-oss-120b", "input_token", kg=0.0008)]) as catalog:
        pull_scaleway(out_dir, catalog.base_url)
        catalog.requests  # the query strings it was asked, in order
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PATH = "/product-catalog/v2alpha1/public-catalog/products"


def genai_product(
    model: str,
    token_type: str,
    *,
    kg: float | None,
    m3: float | None = None,
    size: int = 1_000_000,
    region: str = "fr-par",
    mode: str = "realtime",
    unit: str = "token",
) -> dict[str, Any]:
    """One Generative APIs product as the API lists it (kg/m3 None: the field is left out)."""
    impact = {
        key: value for key, value in (("kg_co2_equivalent", kg), ("m3_water_usage", m3)) if value is not None
    }
    return {
        "sku": f"/ai/generative_apis/consumption/{model.replace('-', '_')}_{token_type}/{region}",
        "service_category": "AI",
        "product_category": "Generative APIs",
        "product": model,
        "variant": f"{model} - {token_type} - {region}",
        "description": f"{model} {token_type}",
        "status": "general_availability",
        "badges": [],
        "locality": {"region": region},
        "price": {"retail_price": {"currency_code": "EUR", "units": 0, "nanos": 150_000_000}},
        "properties": {
            "generative_apis": {
                "reasoning": False,
                "supported_apis": ["/v1/chat/completions"],
                "consumption_mode": mode,
                "provider_name": "scaleway",
                "tasks": ["chat"],
                "token_type": token_type,
                "supported_reasoning_values": [],
            }
        },
        "environmental_impact_estimation": impact,
        "unit_of_measure": {"unit": unit, "size": size},
    }


def instance_product() -> dict[str, Any]:
    """A product that is not Generative APIs (the catalogue mixes every product type)."""
    return {
        "sku": "/compute/pop2_hc_2c_4g/run_fr-par-2",
        "service_category": "Compute",
        "product_category": "Instance",
        "product": "POP2-HC-2C-4G Instance",
        "variant": "Compute POP2-HC-2C-4G Instance - fr-par-2",
        "description": "Compute POP2-HC-2C-4G Instance - fr-par-2",
        "status": "general_availability",
        "badges": [],
        "locality": {"zone": "fr-par-2"},
        "properties": {"hardware": {"cpu": {"description": "AMD EPYC 7543", "arch": "x64", "threads": 2}}},
        "environmental_impact_estimation": {"kg_co2_equivalent": 0.01, "m3_water_usage": 0.0001},
        "unit_of_measure": {"unit": "hour", "size": 1},
    }


class FakeScalewayCatalog:
    def __init__(self, products: list[dict[str, Any]], *, fail_status: int | None = None) -> None:
        self.products = products
        self.fail_status = fail_status
        self.requests: list[dict[str, list[str]]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-scaleway", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeScalewayCatalog:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def answer(self, path: str) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(path)
        query = parse_qs(parts.query)
        self.requests.append(query)
        if parts.path != PATH:
            return 404, {"message": "resource not found"}
        if self.fail_status is not None:
            return self.fail_status, {"message": "fake failure"}
        try:
            page = int(query.get("page", ["1"])[0])
            size = int(query.get("page_size", ["50"])[0])
        except ValueError:
            return 400, {"message": "invalid argument(s)", "type": "invalid_arguments"}
        if page < 1 or size < 1:
            return 400, {"message": "page and page_size must be >= 1", "type": "invalid_arguments"}
        wanted = query.get("product_types")
        listed = [p for p in self.products if not wanted or any(t in p.get("properties", {}) for t in wanted)]
        return 200, {"products": listed[(page - 1) * size : page * size], "total_count": len(listed)}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        catalog = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = catalog.answer(self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        return Handler
