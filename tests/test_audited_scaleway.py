"""Scaleway's footprint API: the client against a fake on loopback, and its answers turned into figures."""

from __future__ import annotations

import pytest

from gateway.scaleway.footprint import (
    FootprintAuthError,
    FootprintBadAnswer,
    FootprintClient,
    FootprintUnavailable,
    month_bounds,
)
from meters.audited import AuditedImportError, SkuMapper, figures_from_footprint, model_figures
from tests.fakes.scaleway_footprint import FAKE_KEY, FAKE_PDF, FakeFootprint, footprint_answer, sku

MODELS = ["gpt-oss-120b", "llama-3.3-70b-instruct", "mistral-small-3.2-24b-instruct-2506"]
SKU = "/ai/generative_apis/consumption/{}_{}_tokens/fr-par"


def october() -> dict:
    return footprint_answer(
        "2026-10",
        zone_skus=[
            sku(SKU.format("gpt-oss-120b", "input"), 1.5, 0.001),
            sku(SKU.format("gpt-oss-120b", "output"), 3.0, 0.002),
        ],
        region_skus=[
            sku(SKU.format("llama-3.3-70b-instruct", "output"), 2.0, 0.0005),
            sku("/ai/generative_apis/consumption/unknown-model_output_tokens/fr-par", 0.25, 0.0),
        ],
    )


@pytest.fixture
def fake():
    with FakeFootprint(answers={"2026-10": october()}) as server:
        yield server


def test_pull_month_reads_zone_and_region_skus(fake: FakeFootprint) -> None:
    client = FootprintClient(FAKE_KEY, fake.base_url)
    parsed = client.pull_month("org-1", "2026-10", SkuMapper(MODELS))
    seen = fake.requests[-1]
    assert seen.method == "GET" and seen.path == "/environmental-footprint/v1alpha1/data/query"
    assert seen.headers["x-auth-token"] == FAKE_KEY
    assert seen.query == {
        "organization_id": ["org-1"],
        "start_date": ["2026-10-01T00:00:00Z"],
        "end_date": ["2026-11-01T00:00:00Z"],
        "product_categories": ["generative_apis"],
    }
    assert parsed.basis == "location" and "org-1" in parsed.source
    assert [(f.model, f.location) for f in parsed.figures] == [
        ("llama-3.3-70b-instruct", "fr-par"),  # region-level SKU
        (None, "fr-par"),  # unmapped: kept, unattributed
        ("gpt-oss-120b", "fr-par-2"),  # zone-level SKUs
        ("gpt-oss-120b", "fr-par-2"),
    ]
    totals = model_figures(parsed.figures)
    assert totals["gpt-oss-120b"].micrograms == 4_500_000_000
    assert totals["gpt-oss-120b"].water_ml == pytest.approx(3000.0)
    assert totals["llama-3.3-70b-instruct"].kg_co2e == 2.0
    assert parsed.unattributed[0].kg_co2e == 0.25


def test_wrong_key_is_401(fake: FakeFootprint) -> None:
    client = FootprintClient("not-the-key", fake.base_url)
    with pytest.raises(FootprintAuthError) as caught:
        client.query_month("org-1", "2026-10")
    assert caught.value.status == 401
    assert "SCW_SECRET_KEY" in str(caught.value) and "not-the-key" not in str(caught.value)
    assert "not-the-key" not in repr(client)


def test_forbidden_is_403(fake: FakeFootprint) -> None:
    fake.mode = "forbidden"
    with pytest.raises(FootprintAuthError) as caught:
        FootprintClient(FAKE_KEY, fake.base_url).availability("org-1")
    assert caught.value.status == 403 and "rights" in str(caught.value)


@pytest.mark.parametrize(("mode", "status"), [("error", 500), ("unavailable", 503)])
def test_server_errors(fake: FakeFootprint, mode: str, status: int) -> None:
    fake.mode = mode
    with pytest.raises(FootprintUnavailable) as caught:
        FootprintClient(FAKE_KEY, fake.base_url).query_month("org-1", "2026-10")
    assert caught.value.status == status and "try again" in str(caught.value)


def test_no_server_is_unavailable() -> None:
    with FakeFootprint() as server:
        url = server.base_url
    with pytest.raises(FootprintUnavailable) as caught:
        FootprintClient(FAKE_KEY, url, timeout_s=5).query_month("org-1", "2026-10")
    assert caught.value.status is None


def test_availability_and_download(fake: FakeFootprint) -> None:
    client = FootprintClient(FAKE_KEY, fake.base_url)
    available = client.availability("org-1")
    assert available.months == ("2026-09", "2026-10") and available.years == ("2026",)
    assert fake.requests[-1].query["start_date"] == ["2024-10-01T00:00:00Z"]
    report = client.download_report("org-1", "2026-10")
    assert report.content == FAKE_PDF and report.content_type == "application/pdf"
    assert fake.requests[-1].body == {
        "organization_id": "org-1",
        "date": "2026-10-01T00:00:00Z",
        "type": "monthly",
    }
    yearly = client.download_report("org-1", "2026", "yearly")
    assert fake.requests[-1].body["date"] == "2026-01-01T00:00:00Z" and yearly.name.endswith(".pdf")


def test_other_4xx_is_a_bad_answer(fake: FakeFootprint) -> None:
    client = FootprintClient(FAKE_KEY, fake.base_url)
    with pytest.raises(FootprintBadAnswer) as caught:
        client._call("GET", "/data/query", params=[("organization_id", "o")])
    assert caught.value.status == 400


def test_from_env() -> None:
    client = FootprintClient.from_env({"SCW_SECRET_KEY": "k", "SCW_API_URL": "http://127.0.0.1:9"})
    assert client.base_url == "http://127.0.0.1:9"
    assert FootprintClient.from_env({"SCW_SECRET_KEY": "k"}).base_url == "https://api.scaleway.com"
    with pytest.raises(FootprintAuthError):
        FootprintClient.from_env({})


def test_month_bounds() -> None:
    assert month_bounds("2026-12") == ("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z")
    with pytest.raises(AuditedImportError):
        month_bounds("2026-13")


def test_malformed_answers_name_the_path() -> None:
    mapper = SkuMapper(MODELS)
    answer = october()
    answer["projects"][0]["regions"][0]["zones"][0]["skus"][1]["total_sku_impact"]["kg_co2_equivalent"] = -1
    with pytest.raises(AuditedImportError) as caught:
        figures_from_footprint(answer, mapper)
    assert caught.value.param == "projects[0].regions[0].zones[0].skus[1].total_sku_impact.kg_co2_equivalent"
    answer = october()
    del answer["projects"][0]["regions"][0]["skus"][0]["total_sku_impact"]["kg_co2_equivalent"]
    with pytest.raises(AuditedImportError) as caught:
        figures_from_footprint(answer, mapper)
    assert caught.value.param == "projects[0].regions[0].skus[0].total_sku_impact.kg_co2_equivalent"
    with pytest.raises(AuditedImportError) as caught:
        figures_from_footprint({"projects": [{"regions": "x"}]}, mapper)
    assert caught.value.param == "projects[0].regions"
