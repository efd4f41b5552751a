"""The four renderings of one report: JSON keys, CSV columns, HTML and PDF content (pdftotext)."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess

import orjson
import pytest

from meters.reports import ReportError
from meters.reports import fmt as number_format
from meters.reports.render import CONTENT_TYPES, FORMATS, check_format, filename, render
from meters.reports.render_data import CSV_COLUMNS
from tests.support.report_samples import MONTH, sample_report

MODELS = ("gpt-oss-120b", "llama-3.3-70b-instruct", "mistral-large-2", "gpt-4o", "gemini-1-5-flash")


@pytest.fixture(scope="module")
def report():
    return sample_report()


@pytest.fixture(scope="module")
def tenant_report():
    return sample_report("makemode")


def test_json_has_the_keys_the_checks_rely_on(report) -> None:
    data = orjson.loads(render(report, "json"))
    assert data["period"] == MONTH and data["scope"] == {"type": "organisation", "tenant": None}
    assert data["totals"]["gco2e"] == pytest.approx(report.totals.gco2e)
    assert data["totals"]["spend"] == {"EUR": pytest.approx(2.57), "USD": pytest.approx(1.882)}
    for line in data["lines"]:
        assert {"model", "gco2e", "method", "boundary", "confidence", "basis", "factor", "tenant"} <= set(
            line
        )
    assert {line["model"] for line in data["lines"]} == set(MODELS)
    for line in data["reconciliation"]:
        assert line["gap_gco2e"] == line["audited_gco2e"] - line["estimated_gco2e"]
    assert {(a["tenant"], a["model"]) for a in data["apportionment"]} >= {("univ-lyon", "gpt-oss-120b")}
    assert sum(a["gco2e"] for a in data["apportionment"] if a["model"] == "gpt-oss-120b") == pytest.approx(
        50.0
    )
    assert 0 < data["primary_data_share"] < 1
    assert data["esrs_e1_6"] and data["limitations"] and data["equivalents"]
    assert data["recalculation_log"]["restatements"][0]["restated_gco2e"] == 50.0
    unknown = [line for line in data["lines"] if line["model"] == "mistral-large-2"]
    assert all(line["energy_wh"] is None and line["water_ml"] is None for line in unknown)  # never 0


def test_csv_parses_with_the_columns(report) -> None:
    text = render(report, "csv").decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    required = [
        "period",
        "tenant",
        "model",
        "tokens_in",
        "tokens_out",
        "requests",
        "gco2e",
        "gco2e_min",
        "gco2e_max",
        "method",
        "boundary",
        "confidence",
        "source",
    ]
    assert set(required) <= set(rows[0]) and tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == len(report.lines)
    assert {row["period"] for row in rows} == {MONTH}
    assert sum(float(row["gco2e"]) for row in rows) == pytest.approx(report.totals.gco2e)
    assert sum(int(row["tokens_in"]) for row in rows) == report.totals.tokens_in
    mistral = [row for row in rows if row["model"] == "mistral-large-2"]
    assert all(row["energy_wh"] == "" for row in mistral)  # unknown: empty, not 0


def test_tenant_csv_names_the_tenant(tenant_report) -> None:
    rows = list(csv.DictReader(io.StringIO(render(tenant_report, "csv").decode())))
    assert {row["tenant"] for row in rows} == {"makemode"}


def _visible_figures(report) -> list[str]:
    t = report.totals
    return [
        number_format.number(t.gco2e),
        number_format.count(t.tokens_in),
        number_format.count(t.tokens_out),
        number_format.count(t.requests),
        number_format.number(t.energy_wh),
    ]


def test_html_is_one_self_contained_page_with_the_same_figures(report) -> None:
    html = render(report, "html").decode("utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "<style>" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "no external asset"
    assert "<link" not in html and "<script" not in html
    for text in (*_visible_figures(report), *MODELS, "Scope 3", "category 1", "ESRS E1", "Limitations"):
        assert text in html, text
    for line in report.reconciliation:
        assert number_format.number(line.gap_gco2e) in html


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils' pdftotext is not installed")
def test_pdf_text_has_totals_models_and_statements(report) -> None:
    pdf = render(report, "pdf")
    assert pdf.startswith(b"%PDF")
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout
    page_text = text.decode("utf-8")
    for needle in (
        *_visible_figures(report),
        *MODELS,
        "Scope 3",
        "category 1",
        "ESRS E1",
        "Limitations",
        "Reconciliation",
        "Recalculation log",
        "Equivalents",
    ):
        assert needle in page_text, needle
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert "A4" in info or "595.276 x 841.89" in info


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils' pdftotext is not installed")
def test_long_pdf_tables_repeat_their_header_on_every_page() -> None:
    from meters.reports import build_report
    from tests.support.report_rows import counters, usage

    rows = [
        usage(f"{MONTH}-01", f"tenant-{t:03d}", f"model-{m}", counters(1000 + t, 10, 1.0 + t))
        for t in range(120)
        for m in range(2)
    ]
    built = build_report(MONTH, usage=rows, catalogue_version="c", gateway_version="v", equivalents=())
    pdf = render(built, "pdf")
    pages = (
        subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
        .stdout.decode()
        .split("\f")
    )
    with_lines = [page for page in pages if re.search(r"tenant-\d{3}\s+model-\d", page)]
    assert len(with_lines) >= 2  # the top-100 tenant x model table spans pages
    for page in with_lines:
        assert re.search(r"Tenant\s+Model\s+Method", page), "header row repeated"
    assert "The 100 largest of 240 tenant x model lines" in " ".join(pages)


def test_tenant_report_hides_the_organisation(tenant_report) -> None:
    html = render(tenant_report, "html").decode()
    assert "univ-lyon" not in html and "atelier-7" not in html and "Per tenant and model" not in html
    assert "tenant makemode" in html


def test_formats_and_names(report) -> None:
    assert set(CONTENT_TYPES) == set(FORMATS)
    assert filename(report, "pdf") == f"carbon-report-{MONTH}-organisation.pdf"
    with pytest.raises(ReportError) as caught:
        check_format("xlsx")
    assert caught.value.param == "format"
    with pytest.raises(ReportError):
        render(report, "PDF")
