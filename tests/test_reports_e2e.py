"""Sustainability reports end to end, on both stores: the gateway under uvicorn serves traffic, an audited
month comes in through POST /admin/audited, then the reports come out in four formats (admin and tenant)."""

from __future__ import annotations

import csv
import io
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from meters.periods import month_of
from meters.reports.fmt import number
from tests.support.gateway import GatewayProcess, running_gateway, write_config
from tests.support.tenancy import (
    ADMIN_KEY,
    BACKENDS,
    admin,
    bearer,
    chat,
    cleaned,
    create_tenant,
    store_block,
    tenancy_config,
)

PERIOD = month_of(time.time())
MIXED = "tmixed"  # a tenant using a USD-priced and an EUR-priced model
SHARES = {"ta": 600_000, "tb": 300_000, "tc": 100_000}
CSV_COLUMNS = {"period", "tenant", "model", "tokens_in", "tokens_out", "requests", "gco2e", "gco2e_min",
               "gco2e_max", "method", "boundary", "confidence", "source"}  # fmt: skip


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, upstream_port: int, tmp_path_factory) -> Iterator[tuple[GatewayProcess, dict[str, str]]]:
    directory = tmp_path_factory.mktemp(f"reports-{request.param}")
    with cleaned(store_block(request.param, directory)) as store:
        config = tenancy_config(upstream_port, store)
        priced = next(m for m in config["model_list"] if m["model_name"] == "priced")
        config["model_list"].append(  # the same model priced in EUR: a mixed-currency tenant (MIXED)
            {**priced, "model_name": "priced-eur", "model_info": {**priced["model_info"], "currency": "EUR"}}
        )
        path = write_config(directory, config)
        with running_gateway(path, env={"GATEWAY_ADMIN_KEY": ADMIN_KEY}) as process:
            keys = {tenant: create_tenant(process.url, tenant) for tenant in (*SHARES, MIXED)}
            for model in ("priced", "priced-eur"):
                answer = httpx.post(f"{process.base_url}/chat/completions", json=chat(model), headers=bearer(keys[MIXED]))
                assert answer.status_code == 200, answer.text
            for tenant, tokens in SHARES.items():  # exact token counts on `fake`, tracked
                tracked = httpx.post(
                    f"{process.base_url}/carbon/track",
                    json={"model": "fake", "prompt_tokens": tokens, "completion_tokens": 0},
                    headers=bearer(keys[tenant]),
                )
                assert tracked.status_code == 201, tracked.text
            for _ in range(3):  # proxied traffic on another model
                answer = httpx.post(f"{process.base_url}/chat/completions", json=chat("small"), headers=bearer(keys["ta"]))
                assert answer.status_code == 200, answer.text
            with admin(process.url) as client:
                for kg, source in ((10.0, "first import"), (12.5, "restated import")):
                    body = {"month": PERIOD, "source": source, "figures": [{"model": "fake", "kg_co2e": kg}]}
                    added = client.post("/admin/audited", json=body)
                    assert added.status_code == 201, added.text
            _wait_for_requests(process, 3 + len(SHARES) + 2)
            yield process, keys


def _wait_for_requests(process: GatewayProcess, requests: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        with admin(process.url) as client:
            report = client.get("/admin/reports", params={"period": PERIOD}).json()
        if sum(line["requests"] for line in report["lines"]) >= requests or time.monotonic() > deadline:
            return
        time.sleep(0.1)


def _admin_report(process: GatewayProcess, fmt: str, **params: str) -> httpx.Response:
    with admin(process.url) as client:
        return client.get("/admin/reports", params={"period": PERIOD, "format": fmt, **params})


def test_organisation_report_apportions_exactly(served) -> None:
    process, _ = served
    answer = _admin_report(process, "json")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    report = answer.json()
    assert report["period"] == PERIOD and report["scope"]["type"] == "organisation"
    shares = {(a["tenant"], a["model"]): a["gco2e"] for a in report["apportionment"]}
    assert shares == {("ta", "fake"): 7500.0, ("tb", "fake"): 3750.0, ("tc", "fake"): 1250.0}
    (line,) = [r for r in report["reconciliation"] if r["model"] == "fake"]
    assert line["audited_gco2e"] == 12500.0
    assert line["gap_gco2e"] == pytest.approx(line["audited_gco2e"] - line["estimated_gco2e"])
    assert {line["model"] for line in report["lines"]} == {"fake", "small", "priced", "priced-eur"}
    restated = report["recalculation_log"]["restatements"]
    assert restated and restated[0]["month"] == PERIOD
    with admin(process.url) as client:
        listed = client.get("/admin/audited", params={"month": PERIOD}).json()["data"]
        assert [(i["version"], i["source"]) for i in listed] == [(2, "restated import"), (1, "first import")]
        assert client.get("/admin/audited", params={"month": "2026-13"}).json()["error"]["param"] == "month"


def test_csv_pdf_html(served, tmp_path) -> None:
    process, _ = served
    report = _admin_report(process, "json").json()
    answer = _admin_report(process, "csv")
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == f'attachment; filename="carbon-report-{PERIOD}-organisation.csv"'
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert set(rows[0]) >= CSV_COLUMNS and {row["model"] for row in rows} >= {"fake", "small"}
    pdf = _admin_report(process, "pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf.content)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    for needle in ("Scope 3", "category 1", "ESRS E1", "Limitations", "fake", "small", number(report["totals"]["gco2e"])):
        assert needle in text, needle
    html = _admin_report(process, "html")
    assert html.headers["content-type"] == "text/html; charset=utf-8" and "ESRS E1" in html.text


def test_bad_format_and_period_are_400(served) -> None:
    process, keys = served
    for params, param in (({"format": "xml"}, "format"), ({"period": "2026-13"}, "period")):
        answer = _admin_report(process, params.get("format", "json"), **{k: v for k, v in params.items() if k != "format"})
        assert answer.status_code == 400 and answer.json()["error"]["param"] == param
    usage = httpx.get(f"{process.base_url}/carbon/usage", params={"format": "xml"}, headers=bearer(keys["ta"]))
    assert usage.status_code == 400 and usage.json()["error"]["param"] == "format"
    as_csv = httpx.get(f"{process.base_url}/carbon/usage", params={"format": "csv"}, headers=bearer(keys["ta"]))
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert {row["model"] for row in csv.DictReader(io.StringIO(as_csv.text))} == {"fake", "small"}
    unauthorised = httpx.get(f"{process.url}/admin/reports", params={"period": PERIOD}, headers=bearer(keys["ta"]))
    assert unauthorised.status_code == 401


def test_a_tenant_sees_its_own_report_only(served) -> None:
    process, keys = served
    own = httpx.get(f"{process.base_url}/carbon/report", params={"period": PERIOD}, headers=bearer(keys["tb"]))
    assert own.status_code == 200, own.text
    report = own.json()
    assert report["scope"] == {"type": "tenant", "tenant": "tb"}
    assert {line["tenant"] for line in report["lines"]} == {"tb"}
    assert [(a["tenant"], a["gco2e"]) for a in report["apportionment"]] == [("tb", 3750.0)]
    other = httpx.get(
        f"{process.base_url}/carbon/report", params={"period": PERIOD, "tenant": "ta"}, headers=bearer(keys["tb"])
    )
    assert other.status_code == 400 and other.json()["error"]["param"] == "tenant"
    pdf = httpx.get(f"{process.base_url}/carbon/report", params={"period": PERIOD, "format": "pdf"}, headers=bearer(keys["tb"]))
    assert pdf.headers["content-disposition"] == f'attachment; filename="carbon-report-{PERIOD}-tenant-tb.pdf"'
    assert httpx.get(f"{process.base_url}/carbon/report", params={"period": PERIOD}).status_code == 401


def test_usage_keeps_unknown_energy_null(served) -> None:
    """`small` is priced by a coefficient without energy or water: its usage rows show null, never 0."""
    process, keys = served
    answer = httpx.get(f"{process.base_url}/carbon/usage", params={"period": PERIOD}, headers=bearer(keys["ta"]))
    assert answer.status_code == 200, answer.text
    usage = answer.json()
    small = usage["by_model"]["small"]
    assert small["requests"] == 3 and small["energy_wh"] is None and small["water_ml"] is None
    assert small["energy_known_requests"] == 0 and small["water_known_requests"] == 0
    assert usage["totals"]["energy_known_requests"] == usage["by_model"]["fake"]["energy_known_requests"]
    as_csv = httpx.get(f"{process.base_url}/carbon/usage", params={"period": PERIOD, "format": "csv"}, headers=bearer(keys["ta"]))
    (row,) = [r for r in csv.DictReader(io.StringIO(as_csv.text)) if r["model"] == "small"]
    assert row["energy_wh"] == "" and row["energy_known_requests"] == "0"  # unknown: empty, not 0


def test_usage_never_sums_spend_across_currencies(served) -> None:
    process, keys = served
    answer = httpx.get(f"{process.base_url}/carbon/usage", params={"period": PERIOD}, headers=bearer(keys[MIXED]))
    assert answer.status_code == 200, answer.text
    usage = answer.json()
    usd, eur = usage["by_model"]["priced"], usage["by_model"]["priced-eur"]
    assert (usd["currency"], eur["currency"]) == ("USD", "EUR")
    assert usd["spend"] > 0 and eur["spend"] > 0
    assert usage["totals"]["spend"] is None  # never the sum of EUR and USD
    assert usage["totals"]["spend_by_currency"] == {"EUR": eur["spend"], "USD": usd["spend"]}
    with admin(process.url) as client:
        assert client.get(f"/admin/tenants/{MIXED}/usage", params={"period": PERIOD}).json()["totals"] == usage["totals"]
    as_csv = httpx.get(f"{process.base_url}/carbon/usage", params={"period": PERIOD, "format": "csv"}, headers=bearer(keys[MIXED]))
    assert {row["model"]: row["currency"] for row in csv.DictReader(io.StringIO(as_csv.text))} == {"priced": "USD", "priced-eur": "EUR"}
