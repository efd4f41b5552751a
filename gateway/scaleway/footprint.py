"""HTTP client for Scaleway's Environmental Footprint API (v1alpha1), for `audited pull-scaleway`.

Key from `SCW_SECRET_KEY` (sent as `X-Auth-Token`, never logged or shown), base URL from `SCW_API_URL`
(default https://api.scaleway.com) so tests point it at a fake. Synchronous (stdlib urllib: no dependency),
called from the CLI, not from the request path. Answers are turned into figures by `meters.audited.scaleway`.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from meters.audited import (
    DownloadedReport,
    ParsedImport,
    ReportAvailability,
    SkuMapper,
    availability_from_response,
    check_month,
    footprint_import,
    report_from_download,
)

DEFAULT_BASE_URL = "https://api.scaleway.com"
API_PREFIX = "/environmental-footprint/v1alpha1"
FIRST_DATE = "2024-10-01T00:00:00Z"  # Scaleway keeps footprint data from October 2024


class FootprintError(Exception):
    """Scaleway's footprint API could not be used. `status` is the HTTP status, None without an answer."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class FootprintAuthError(FootprintError):
    """No key, a wrong key (401) or a key without rights on the Organization (403)."""


class FootprintUnavailable(FootprintError):
    """5xx, a timeout or no connection: try again later."""


class FootprintBadAnswer(FootprintError):
    """Any other 4xx, or an answer that is not the documented JSON."""


def month_bounds(month: str) -> tuple[str, str]:
    """(first instant of the month, first instant of the next): start inclusive, end exclusive."""
    month = check_month(month)
    year, number = int(month[:4]), int(month[5:7])
    end_year, end_month = (year + 1, 1) if number == 12 else (year, number + 1)
    return f"{month}-01T00:00:00Z", f"{end_year:04d}-{end_month:02d}-01T00:00:00Z"


@dataclass(frozen=True)
class FootprintClient:
    secret_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    timeout_s: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, timeout_s: float = 30.0) -> FootprintClient:
        env = os.environ if env is None else env
        key = env.get("SCW_SECRET_KEY", "").strip()
        if not key:
            raise FootprintAuthError("SCW_SECRET_KEY is not set: export a Scaleway API secret key")
        return cls(key, env.get("SCW_API_URL", "").strip() or DEFAULT_BASE_URL, timeout_s)

    def query(
        self,
        organization_id: str,
        start_date: str,
        end_date: str,
        product_categories: Sequence[str] = ("generative_apis",),
    ) -> dict[str, Any]:
        """`GET data/query`: impacts per project, region, zone and SKU (start inclusive, end exclusive)."""
        params = [("organization_id", organization_id), ("start_date", start_date), ("end_date", end_date)]
        params += [("product_categories", category) for category in product_categories]
        answer = self._call("GET", "/data/query", params=params)
        if not isinstance(answer, dict):
            raise FootprintBadAnswer("data/query: expected a JSON object")
        return answer

    def query_month(self, organization_id: str, month: str) -> dict[str, Any]:
        start, end = month_bounds(month)
        return self.query(organization_id, start, end)

    def pull_month(self, organization_id: str, month: str, mapper: SkuMapper) -> ParsedImport:
        """A month's Generative APIs figures, SKUs mapped to models (unmapped kept as unattributed).

        Raises FootprintError subclasses, or `AuditedImportError` (naming the path) for a malformed answer.
        """
        answer = self.query_month(organization_id, month)
        # No month in the source: a model's audited months then share one line in a yearly report.
        source = f"Scaleway Environmental Footprint API (data/query), organization {organization_id}"
        return footprint_import(answer, month, mapper, source)

    def availability(
        self, organization_id: str, start_date: str = FIRST_DATE, end_date: str | None = None
    ) -> ReportAvailability:
        """`GET reports/availability`: the months (and years) Scaleway has a summary report for."""
        params = [("organization_id", organization_id), ("start_date", start_date)]
        if end_date is not None:
            params.append(("end_date", end_date))
        return availability_from_response(self._call("GET", "/reports/availability", params=params))

    def download_report(
        self, organization_id: str, period: str, report_type: str = "monthly"
    ) -> DownloadedReport:
        """`POST reports/download`: Scaleway's own PDF for a month (YYYY-MM) or a year (YYYY)."""
        if report_type not in ("monthly", "yearly"):
            raise ValueError(f"report_type must be 'monthly' or 'yearly', got {report_type!r}")
        date = month_bounds(period)[0] if report_type == "monthly" else f"{int(period):04d}-01-01T00:00:00Z"
        body = {"organization_id": organization_id, "date": date, "type": report_type}
        return report_from_download(self._call("POST", "/reports/download", body=body))

    def _call(
        self, method: str, path: str, params: list[tuple[str, str]] | None = None, body: object = None
    ) -> Any:
        url = f"{self.base_url.rstrip('/')}{API_PREFIX}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {"X-Auth-Token": self.secret_key, "Accept": "application/json"}
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise _http_error(method, path, error.code, error.read()) from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise FootprintUnavailable(
                f"{method} {path}: no answer from {self.base_url} ({reason})"
            ) from None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise FootprintBadAnswer(f"{method} {path}: the answer is not JSON") from None


def _http_error(method: str, path: str, status: int, raw: bytes) -> FootprintError:
    try:
        detail = orjson.loads(raw)
        message = detail.get("message") if isinstance(detail, dict) else None
    except orjson.JSONDecodeError:
        message = None
    said = f" ({message})" if message else ""
    where = f"{method} {path}: Scaleway answered {status}{said}"
    if status == 401:
        return FootprintAuthError(f"{where}: the key in SCW_SECRET_KEY is wrong or revoked", status)
    if status == 403:
        return FootprintAuthError(
            f"{where}: the key has no rights to read this Organization's environmental footprint", status
        )
    if status >= 500:
        return FootprintUnavailable(f"{where}: Scaleway's side failed, try again later", status)
    return FootprintBadAnswer(where, status)
