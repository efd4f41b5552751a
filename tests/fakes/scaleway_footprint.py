"""A fake Scaleway Environmental Footprint API on loopback (a real HTTP server on its own thread).

Answers exactly the v1alpha1 shapes (no pagination): ``GET /environmental-footprint/v1alpha1/data/query``,
``GET .../reports/availability`` and ``POST .../reports/download`` (base64 PDF). ``X-Auth-Token`` must be the
fake's key (else 401, as Scaleway answers an unknown key); ``mode`` = "forbidden" answers 403 (a key without
rights on the Organization), "error" answers 500 and "unavailable" 503::

    with FakeFootprint(answers={"2026-10": footprint_answer("2026-10", zone_skus=[...])}) as fake:
        client = FootprintClient("fake-key", fake.base_url)
        fake.mode = "forbidden"
        fake.requests[-1].query["organization_id"]
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

PREFIX = "/environmental-footprint/v1alpha1"
FAKE_KEY = "fake-scw-secret-key"
FAKE_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

_ERRORS = {
    "forbidden": (403, {"type": "permissions_denied", "message": "insufficient permissions"}),
    "error": (500, {"type": "internal_error", "message": "internal error"}),
    "unavailable": (503, {"type": "service_unavailable", "message": "service unavailable"}),
}


def impact(kg: float, m3: float) -> dict[str, float]:
    return {"kg_co2_equivalent": kg, "m3_water_usage": m3}


def sku(name: str, kg: float, m3: float = 0.0) -> dict[str, Any]:
    return {
        "sku": name,
        "service_category": "ai",
        "product_category": "generative_apis",
        "total_sku_impact": impact(kg, m3),
    }


def footprint_answer(
    month: str,
    zone_skus: Iterable[dict[str, Any]] = (),
    region_skus: Iterable[dict[str, Any]] = (),
    project_id: str = "11111111-1111-4111-8111-111111111111",
) -> dict[str, Any]:
    """A `data/query` answer for one month, one project in fr-par: SKUs in zone fr-par-2 and at region level."""
    zone_list, region_list = list(zone_skus), list(region_skus)

    def total(items: list[dict[str, Any]]) -> dict[str, float]:
        return impact(
            sum(i["total_sku_impact"]["kg_co2_equivalent"] for i in items),
            sum(i["total_sku_impact"]["m3_water_usage"] for i in items),
        )

    year, number = int(month[:4]), int(month[5:7])
    end = f"{year + number // 12:04d}-{number % 12 + 1:02d}-01T00:00:00Z"
    everything = total(zone_list + region_list)
    return {
        "start_date": f"{month}-01T00:00:00Z",
        "end_date": end,
        "total_impact": everything,
        "projects": [
            {
                "project_id": project_id,
                "total_project_impact": everything,
                "regions": [
                    {
                        "region": "fr-par",
                        "total_region_impact": everything,
                        "zones": [
                            {"zone": "fr-par-2", "total_zone_impact": total(zone_list), "skus": zone_list}
                        ],
                        "skus": region_list,
                    }
                ],
            }
        ],
    }


@dataclass(frozen=True, slots=True)
class SeenRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeFootprint:
    answers: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    """data/query answers by month (YYYY-MM); a month without one answers no projects."""
    key: str = FAKE_KEY
    months: tuple[str, ...] = ("2026-09", "2026-10")
    mode: str = "ok"
    port: int = 0
    requests: list[SeenRequest] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def __enter__(self) -> FakeFootprint:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self, None)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = orjson.loads(raw) if raw else None
                except orjson.JSONDecodeError:
                    body = raw
                fake._handle(self, body)

            def log_message(self, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-footprint",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _handle(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        url = urlsplit(handler.path)
        query = parse_qs(url.query)
        headers = {name.lower(): value for name, value in handler.headers.items()}
        self.requests.append(SeenRequest(handler.command, url.path, query, headers, body))
        status, answer = self._answer(handler.command, url.path, query, headers, body)
        data = orjson.dumps(answer)
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        if headers.get("x-auth-token") != self.key:
            return 401, {
                "type": "denied_authentication",
                "method": "api_key",
                "reason": "invalid_argument",
                "message": "authentication is denied",
            }
        if self.mode in _ERRORS:
            return _ERRORS[self.mode]
        if method == "GET" and path == f"{PREFIX}/data/query":
            missing = [name for name in ("organization_id", "start_date", "end_date") if name not in query]
            if missing:
                return 400, {"type": "invalid_arguments", "message": f"missing {missing[0]}"}
            month = query["start_date"][0][:7]
            return 200, self.answers.get(month) or footprint_answer(month)
        if method == "GET" and path == f"{PREFIX}/reports/availability":
            return 200, {
                "month_summary_reports": [f"{m}-01T00:00:00Z" for m in self.months],
                "yearly_summary_reports": sorted({f"{m[:4]}-01-01T00:00:00Z" for m in self.months}),
            }
        if method == "POST" and path == f"{PREFIX}/reports/download":
            if (
                not isinstance(body, dict)
                or body.get("type") not in ("monthly", "yearly")
                or "date" not in body
            ):
                return 400, {"type": "invalid_arguments", "message": "date and type (monthly|yearly) needed"}
            name = f"scaleway-impact-{body['type']}-{str(body['date'])[:7]}.pdf"
            return 200, {
                "name": name,
                "content_type": "application/pdf",
                "content": base64.b64encode(FAKE_PDF).decode(),
            }
        return 404, {"type": "not_found", "message": f"no route {method} {path}"}


def sample_month(month: str) -> dict[str, Any]:
    """A month for the README's walkthrough: two models of the default config (input and output tokens, in
    zone fr-par-2) and an SKU no configured model matches (region level: imported as unattributed)."""
    base = "/ai/generative_apis/consumption"
    return footprint_answer(
        month,
        zone_skus=[
            sku(f"{base}/llama-3.1-8b-instruct_input_tokens/fr-par", 0.8, 0.0021),
            sku(f"{base}/llama-3.1-8b-instruct_output_tokens/fr-par", 2.4, 0.0063),
            sku(f"{base}/mistral-small-3.2-24b-instruct-2506_output_tokens/fr-par", 1.1, 0.0029),
        ],
        region_skus=[sku(f"{base}/some-retired-model_output_tokens/fr-par", 0.05, 0.0001)],
    )


def main() -> None:
    """``python -m tests.fakes.scaleway_footprint [--port 8790] [--month YYYY-MM ...]``: serve the fake until
    Ctrl-C (key: fake-scw-secret-key)."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description="a fake Scaleway Environmental Footprint API on loopback")
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--month", action="append", default=[], help="YYYY-MM with sample figures (repeatable)")
    args = parser.parse_args()
    months = tuple(args.month) or ("2026-10",)
    with FakeFootprint(answers={m: sample_month(m) for m in months}, months=months, port=args.port) as fake:
        print(f"fake Scaleway footprint API at {fake.base_url} (key {FAKE_KEY}); Ctrl-C to stop", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return


if __name__ == "__main__":
    main()
