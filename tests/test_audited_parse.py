"""Audited imports from CSV, JSON files and the admin body: figures kept, errors naming line and field."""

from __future__ import annotations

import pytest

from meters.audited import (
    AuditedImportError,
    SkuMapper,
    engine_figures,
    model_figures,
    parse_admin,
    parse_csv,
    parse_file,
    parse_sku_patterns,
    to_micrograms,
)

MODELS = ["gpt-oss-120b", "llama-3.3-70b-instruct", "llama-3.1-8b-instruct", "mistral-small"]


@pytest.fixture
def mapper() -> SkuMapper:
    return SkuMapper(MODELS)


def test_csv_figures_with_optional_water_and_tokens(mapper: SkuMapper) -> None:
    text = (
        "model,kg_co2e,m3_water,tokens,prompt_tokens,completion_tokens\n"
        "gpt-oss-120b,12.5,0.004,1000000,,\n"
        "llama-3.3-70b-instruct,2,,,600,400\n"
    )
    parsed = parse_csv(text, "2026-10", mapper, "Scaleway monthly report")
    assert parsed.month == "2026-10" and parsed.source == "Scaleway monthly report"
    first, second = parsed.figures
    assert (first.model, first.kg_co2e, first.m3_water, first.tokens) == (
        "gpt-oss-120b",
        12.5,
        0.004,
        1000000,
    )
    assert (second.m3_water, second.tokens, second.prompt_tokens, second.completion_tokens) == (
        None,
        1000,
        600,
        400,
    )
    assert engine_figures(parsed.figures) == {
        "gpt-oss-120b": (12.5, 1000000),
        "llama-3.3-70b-instruct": (2.0, 600, 400),
    }


@pytest.mark.parametrize(
    ("text", "line", "param", "words"),
    [
        ("model,kg_co2e\ngpt-oss-120b,-1\n", 2, "kg_co2e", ">= 0"),
        ("model,kg_co2e\ngpt-oss-120b,1\nmistral-small,nan\n", 3, "kg_co2e", "finite"),
        ("model,kg_co2e\ngpt-oss-120b,inf\n", 2, "kg_co2e", "finite"),
        ("model,kg_co2e\ngpt-oss-120b,1,5\n", 2, None, "cells"),
        ("model,kg_co2e\ngpt-oss-120b,abc\n", 2, "kg_co2e", "number"),
        ("model,kg_co2e\nnot-a-model,1\n", 2, "model", "not a configured model"),
        ("model,kg_co2e\n,1\n", 2, "model", "exactly one"),
        ("model,kg_co2e,tokens\ngpt-oss-120b,1,1.5\n", 2, "tokens", "integer"),
        ("model,kg_co2e,prompt_tokens\ngpt-oss-120b,1,10\n", 2, "completion_tokens", "together"),
        ("model,kg_co2e,tokens,prompt_tokens,completion_tokens\ngpt-oss-120b,1,5,1,1\n", 2, "tokens", "not"),
        ("model,kg_co2\ngpt-oss-120b,1\n", 1, "kg_co2", "unknown column"),
        ("model,m3_water\ngpt-oss-120b,1\n", 2, "kg_co2e", "required"),
        ("model,kg_co2e\ngpt-oss-120b,1\n\ngpt-oss-120b,2\n", 4, "model", "twice"),
        ("model,kg_co2e\n", 2, None, "no figures"),
        ("", 1, None, "empty"),
    ],
)
def test_csv_errors_name_line_and_field(
    mapper: SkuMapper, text: str, line: int, param: str | None, words: str
) -> None:
    with pytest.raises(AuditedImportError) as caught:
        parse_csv(text, "2026-10", mapper, "file")
    assert caught.value.line == line
    assert caught.value.param == param
    assert words in str(caught.value)
    assert f"line {line}" in str(caught.value)


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-01", "2026/01", "", "2026-00"])
def test_bad_month_is_refused(mapper: SkuMapper, month: str) -> None:
    with pytest.raises(AuditedImportError) as caught:
        parse_csv("model,kg_co2e\ngpt-oss-120b,1\n", month, mapper, "file")
    assert caught.value.param == "month"
    with pytest.raises(AuditedImportError) as caught:
        parse_admin({"month": month, "figures": [{"model": "gpt-oss-120b", "kg_co2e": 1}]}, mapper)
    assert caught.value.param == "month"


def test_unmapped_sku_is_kept_as_unattributed(mapper: SkuMapper) -> None:
    text = (
        "sku,kg_co2e\n"
        "/ai/generative_apis/consumption/gpt-oss-120b_input_tokens/fr-par,1.25\n"
        "/ai/generative_apis/consumption/gpt-oss-120b_output_tokens/fr-par,2.5\n"
        "/ai/generative_apis/consumption/some-new-model_output_tokens/fr-par,0.75\n"
    )
    parsed = parse_csv(text, "2026-10", mapper, "file")
    assert [f.model for f in parsed.figures] == ["gpt-oss-120b", "gpt-oss-120b", None]
    assert [f.sku for f in parsed.unattributed] == [
        "/ai/generative_apis/consumption/some-new-model_output_tokens/fr-par"
    ]
    totals = model_figures(parsed.figures)
    assert list(totals) == ["gpt-oss-120b"]
    assert totals["gpt-oss-120b"].micrograms == 3_750_000_000
    assert totals["gpt-oss-120b"].water_ml is None  # no water figure: unknown, not 0


def test_admin_body_errors_name_the_path(mapper: SkuMapper) -> None:
    good = {"model": "gpt-oss-120b", "kg_co2e": 1.0}
    cases = [
        (
            {"month": "2026-10", "figures": [good, {"model": "gpt-oss-120b", "kg_co2e": float("nan")}]},
            "figures[1].kg_co2e",
        ),
        ({"month": "2026-10", "figures": [{"model": "x", "kg_co2e": 1}]}, "figures[0].model"),
        ({"month": "2026-10", "figures": [{"sku": "s", "kg_co2e": -0.5}]}, "figures[0].kg_co2e"),
        ({"month": "2026-10", "figures": [{"model": "gpt-oss-120b", "kg_co2e": True}]}, "figures[0].kg_co2e"),
        ({"month": "2026-10", "figures": [{**good, "m3_water": "a"}]}, "figures[0].m3_water"),
        ({"month": "2026-10", "figures": [{**good, "kgco2e": 1}]}, "figures[0].kgco2e"),
        ({"month": "2026-10", "figures": []}, "figures"),
        ({"month": "2026-10", "figures": [good], "extra": 1}, "extra"),
        ({"month": "2026-10", "source": "", "figures": [good]}, "source"),
        ({"figures": [good]}, "month"),
    ]
    for body, param in cases:
        with pytest.raises(AuditedImportError) as caught:
            parse_admin(body, mapper)
        assert caught.value.param == param, body
        assert caught.value.line is None


def test_admin_body_and_json_file(mapper: SkuMapper) -> None:
    body = {
        "month": "2026-10",
        "source": "Scaleway PDF",
        "figures": [{"model": "mistral-small", "kg_co2e": 0.1}],
    }
    parsed = parse_admin(body, mapper)
    assert (parsed.month, parsed.source, parsed.figures[0].model) == (
        "2026-10",
        "Scaleway PDF",
        "mistral-small",
    )
    from_file = parse_file(
        "october.json", b'{"figures": [{"model": "mistral-small", "kg_co2e": 0.1}]}', "2026-10", mapper
    )
    assert from_file.source == "file october.json"
    bare = parse_file(
        "o.json", b'[{"sku": "x/llama-3.1-8b-instruct_in", "kg_co2e": 3}]', "2026-10", mapper, "cli"
    )
    assert bare.figures[0].model == "llama-3.1-8b-instruct" and bare.source == "cli"
    with pytest.raises(AuditedImportError) as caught:
        parse_file("o.json", b'{"month": "2026-09", "figures": []}', "2026-10", mapper)
    assert caught.value.param == "month"
    with pytest.raises(AuditedImportError) as caught:
        parse_file("o.xlsx", b"", "2026-10", mapper)
    assert caught.value.param == "FILE"


def test_default_mapping_takes_the_longest_delimited_id() -> None:
    mapper = SkuMapper(["llama-3.1-8b", "llama-3.1-8b-instruct", "gpt-oss-120b", "o1"])
    assert mapper.model_of("/ai/generative_apis/consumption/llama-3.1-8b-instruct_output_tokens/fr-par") == (
        "llama-3.1-8b-instruct"
    )
    assert (
        mapper.model_of("/ai/generative_apis/consumption/GPT-OSS-120B_input_tokens/fr-par") == "gpt-oss-120b"
    )
    # "o1" inside "pro1x" or "gpt-oss-120b-o1x" is not the model o1.
    assert mapper.model_of("/ai/generative_apis/pro1x/fr-par") is None
    assert mapper.model_of("/ai/generative_apis/consumption/o1_output_tokens/fr-par") == "o1"


def test_configured_patterns_come_first() -> None:
    patterns = parse_sku_patterns(
        [
            {"pattern": r"consumption/(?P<model>[a-z0-9.\-]+?)_(input|output)_tokens"},
            {"pattern": r"^legacy-sku-42$", "model": "gpt-oss-120b"},
        ]
    )
    mapper = SkuMapper({"llama-3.3-70b-instruct": "chat-large", "gpt-oss-120b": "gpt-oss-120b"}, patterns)
    assert mapper.model_of("/ai/generative_apis/consumption/llama-3.3-70b-instruct_input_tokens/fr-par") == (
        "chat-large"
    )
    assert mapper.model_of("legacy-sku-42") == "gpt-oss-120b"
    assert mapper.model_of("nothing") is None
    for bad, param in [
        ([{"pattern": "("}], "sku_patterns[0].pattern"),
        ([{"pattern": "x"}], "sku_patterns[0].pattern"),
        ([{"model": "x"}], "sku_patterns[0].pattern"),
        ("x", "sku_patterns"),
    ]:
        with pytest.raises(AuditedImportError) as caught:
            parse_sku_patterns(bad)
        assert caught.value.param == param


def test_micrograms_are_exact_for_decimal_kg() -> None:
    assert to_micrograms(12.5) == 12_500_000_000
    assert to_micrograms(0.1) == 100_000_000
    assert to_micrograms(1e-10) == 0
    assert to_micrograms(3.0000000005) == 3_000_000_000  # half-even at the microgram
