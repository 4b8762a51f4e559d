"""Importers of LiteLLM- and genai-prices-format price files: exact prices, problems, round trip."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest

from llmtally.catalog import Catalog, CatalogFileError
from llmtally.catalog.importers import ImportResult, import_prices, write_imported
from llmtally.catalog.importers.genai_prices import clause_matches, match_rules
from llmtally.catalog.loader import read_provider_file
from llmtally.catalog.schema import ModelSpec, PriceSpec

FIXTURES = Path(__file__).parent / "fixtures" / "import"
LITELLM = FIXTURES / "litellm_small.json"
GENAI = FIXTURES / "genai_small.json"
# Measured on the reference files of tests/fixtures/reference/SOURCES.md: 1412 LiteLLM
# entries and 10 genai-prices entries are not (fully) imported; the bounds
# leave a little room and catch a converter that starts dropping much more.
LITELLM_PROBLEMS_BOUND = 1450
GENAI_PROBLEMS_BOUND = 15


@pytest.fixture(scope="module")
def litellm() -> ImportResult:
    return import_prices("litellm", LITELLM)


@pytest.fixture(scope="module")
def genai() -> ImportResult:
    return import_prices("genai-prices", GENAI)


def model(result: ImportResult, provider: str, ident: str) -> ModelSpec:
    for pf in result.files:
        for spec in pf.models:
            if pf.provider == provider and spec.id == ident:
                return spec
    raise AssertionError(f"{provider}/{ident} not imported")


def price(result: ImportResult, provider: str, ident: str, pos: int = 0) -> PriceSpec:
    return model(result, provider, ident).prices[pos]


def problems_about(result: ImportResult, text: str) -> list[str]:
    return [p for p in result.problems if text in p]


# LiteLLM


def test_litellm_per_token_floats_become_exact_per_million_strings(litellm: ImportResult) -> None:
    p = price(litellm, "openai", "gpt-test")
    assert (p.input, p.output, p.cache_read) == (Decimal("2.5"), Decimal("10"), Decimal("0.25"))
    assert (str(p.input), str(p.output), str(p.cache_write)) == ("2.5", "10", "3.125")
    assert (p.cache_write_1h, p.reasoning) == (Decimal("5"), Decimal("10"))
    assert (p.input_audio, p.output_audio) == (Decimal("32"), Decimal("64"))
    assert p.source == "https://openai.example/pricing"
    assert p.note is not None and "litellm_small.json" in p.note


def test_litellm_service_tiers_and_long_context(litellm: ImportResult) -> None:
    p = price(litellm, "openai", "gpt-test")
    assert [(c.above, c.input, c.output) for c in p.long_context] == [
        (200_000, Decimal("5"), Decimal("15"))
    ]
    assert p.batch is not None and p.flex is not None and p.priority is not None
    assert (p.batch.input, p.batch.output) == (Decimal("1.25"), Decimal("5"))
    assert [(c.above, c.input) for c in p.batch.long_context] == [(200_000, Decimal("2.5"))]
    assert (p.flex.input, p.priority.input, p.priority.output) == (
        Decimal("1.25"),
        Decimal("4.25"),
        Decimal("17"),
    )


def test_litellm_cliffs_carry_lower_thresholds_up(litellm: ImportResult) -> None:
    p = price(litellm, "google", "gemini-test")
    cliffs = [(c.above, c.input, c.output) for c in p.long_context]
    # Output is repriced above 128k only, so the 200k cliff keeps the 128k output.
    assert cliffs == [
        (128_000, Decimal("2"), Decimal("8")),
        (200_000, Decimal("3"), Decimal("8")),
    ]


def test_litellm_provider_ids_and_model_ids(litellm: ImportResult) -> None:
    providers = {pf.provider for pf in litellm.files}
    assert {"openai", "google", "together", "xai", "deepseek", "dashscope", "fancy-ai"} <= providers
    assert model(litellm, "together", "meta-llama/Llama-Test-70B")
    assert model(litellm, "xai", "grok-test")
    assert model(litellm, "openai", "gpt-test").aliases == ["gpt-test-latest"]
    assert model(litellm, "openai", "whisper-test").kind == "transcription"
    assert model(litellm, "openai", "tts-test").kind == "tts"
    assert model(litellm, "openai", "embed-test").kind == "embedding"


def test_litellm_gemini_api_wins_over_vertex_and_the_clash_is_reported(
    litellm: ImportResult,
) -> None:
    assert price(litellm, "google", "gemini-test").input == Decimal("1")
    (message,) = problems_about(litellm, "'gemini-test': not imported")
    assert "kept 'gemini/gemini-test'" in message


def test_litellm_images_by_size_and_quality(litellm: ImportResult) -> None:
    p = price(litellm, "openai", "image-test")
    assert model(litellm, "openai", "image-test").kind == "image"
    assert p.input == Decimal("5") and p.output_image == Decimal("40")
    assert {(i.size, i.quality, i.price) for i in p.images} == {
        ("1024x1792", "hd", Decimal("0.12")),
        ("1024x1024", "standard", Decimal("0.04")),
    }
    (message,) = problems_about(litellm, "'image-nosize'")
    assert "not imported: output_cost_per_image: a price per image of unknown size" in message


def test_litellm_audio_seconds_characters_tiered_and_windows(litellm: ImportResult) -> None:
    audio = price(litellm, "openai", "whisper-test").audio
    assert audio is not None and (audio.price, audio.per) == (Decimal("0.0001"), "second")
    assert price(litellm, "openai", "tts-test").characters == Decimal("15")
    qwen = price(litellm, "dashscope", "qwen-test")
    assert (qwen.input, qwen.output) == (Decimal("0.05"), Decimal("0.4"))
    assert [(c.above, c.input, c.output) for c in qwen.long_context] == [
        (256_000, Decimal("0.25"), Decimal("2"))
    ]
    ds = price(litellm, "deepseek", "deepseek-test")
    assert ds.cache_read == Decimal("0.028")
    (window,) = ds.windows
    assert (window.start, window.end) == (dt.time(16, 30), dt.time(0, 30))
    assert (window.input, window.output) == (Decimal("0.14"), Decimal("0.21"))


def test_litellm_bad_entries_are_reported_and_the_rest_imports(litellm: ImportResult) -> None:
    (negative,) = problems_about(litellm, "'bad-negative'")
    assert "not imported: input_cost_per_token: -1e-06 is negative" in negative
    (string,) = problems_about(litellm, "'bad-string'")
    assert "not imported: input_cost_per_token: '0.000001' is not a number" in string
    (video,) = problems_about(litellm, "'video-test'")
    assert "mode 'video_generation' has no llmtally kind" in video
    (search,) = problems_about(litellm, "'search-test'")
    assert "imported without: search_context_cost_per_query" in search
    assert price(litellm, "openai", "search-test").input == Decimal("2.5")
    assert not problems_about(litellm, "sample_spec")
    assert len(litellm.problems) == 6, litellm.problems
    imported = {m.id for pf in litellm.files for m in pf.models}
    assert {"bad-negative", "bad-string", "video-test", "image-nosize"}.isdisjoint(imported)


# genai-prices


def test_genai_prices_rates_and_match_rules(genai: ImportResult) -> None:
    gpt = model(genai, "openai", "gpt-test")
    p = gpt.prices[0]
    assert (p.input, p.cache_read, p.output) == (Decimal("2.5"), Decimal("0.25"), Decimal("10"))
    assert p.source == "https://openai.example/pricing"
    assert gpt.aliases == ["gpt-test-2026-01-01"]
    assert gpt.match is not None and gpt.match.prefix == ["gpt-test-ft"]
    assert gpt.context_window == 400_000
    assert model(genai, "xai", "grok-test").match is not None
    assert price(genai, "odd-provider", "sonar-test").request == Decimal("0.012")


def test_genai_prices_tiers_become_cliffs_and_dates_become_history(genai: ImportResult) -> None:
    first, second = model(genai, "anthropic", "claude-test").prices
    assert first.effective is None and second.effective == dt.date(2026, 3, 13)
    assert [(c.above, c.input, c.cache_read, c.output) for c in first.long_context] == [
        (200_000, Decimal("6"), Decimal("0.6"), Decimal("22.5"))
    ]
    assert not second.long_context and second.input == Decimal("3")
    o_first, o_second = model(genai, "openai", "o-test").prices
    assert (o_first.input, o_second.input) == (Decimal("10"), Decimal("2"))
    assert o_second.effective == dt.date(2025, 6, 10)


def test_genai_prices_time_of_day_becomes_a_utc_window(genai: ImportResult) -> None:
    p = price(genai, "deepseek", "deepseek-test")
    assert p.input == Decimal("0.135")
    (window,) = p.windows
    assert (window.start, window.end) == (dt.time(0, 30), dt.time(16, 30))
    assert (window.input, window.cache_read, window.output) == (
        Decimal("0.27"),
        Decimal("0.07"),
        Decimal("1.1"),
    )


def test_genai_prices_bad_prices_are_reported_and_the_rest_imports(genai: ImportResult) -> None:
    (negative,) = problems_about(genai, "google/gemini-negative")
    assert "not imported: prices.input_mtok: -0.3 is negative" in negative
    (string,) = problems_about(genai, "google/gemini-string")
    assert "not imported: prices.input_mtok: '0.3' is not a number" in string
    (audio,) = problems_about(genai, "google/gemini-good")
    assert "imported without: prices.cache_audio_read_mtok" in audio
    assert price(genai, "google", "gemini-good").input_audio == Decimal("1")
    assert len(genai.problems) == 3, genai.problems


CLAUSES = [
    {"equals": "gpt-4o"},
    {"starts_with": "claude-3"},
    {"ends_with": "-latest"},
    {"contains": "sonnet"},
    {"regex": "^o[134]"},
    {"or": [{"equals": "a.b"}, {"contains": "x+y"}]},
    {"and": [{"contains": "grok"}, {"ends_with": "-mini"}]},
]
NAMES = ["gpt-4o", "gpt-4o-mini", "claude-3-opus", "claude-sonnet-latest", "o1", "o3-mini", "xo1"]
NAMES += ["a.b", "axb", "1x+y2", "grok-3-mini", "grok-3", "mini-grok"]


@pytest.mark.parametrize("clause", CLAUSES)
def test_translated_match_rules_match_what_genai_prices_matches(clause: dict[str, object]) -> None:
    aliases, prefixes, regexes = match_rules(clause)
    for name in NAMES:
        ours = (
            name in aliases
            or any(name.startswith(p) for p in prefixes)
            or any(re.fullmatch(rx, name) for rx in regexes)
        )
        assert ours == clause_matches(clause, name), (clause, name)


# Files


def test_malformed_json_names_the_file_and_line() -> None:
    with pytest.raises(CatalogFileError, match=r"malformed\.json:3:\d+: not valid JSON"):
        import_prices("litellm", FIXTURES / "malformed.json")


def test_a_wrong_top_level_type_is_an_error_naming_the_file() -> None:
    with pytest.raises(CatalogFileError, match=r"top_level_list\.json:1: .* an object"):
        import_prices("litellm", FIXTURES / "top_level_list.json")
    with pytest.raises(CatalogFileError, match=r"litellm_small\.json:1: .* a list"):
        import_prices("genai-prices", LITELLM)


def test_written_files_round_trip_and_rank_below_the_hand_checked_files(
    tmp_path: Path, litellm: ImportResult, genai: ImportResult
) -> None:
    written = write_imported(litellm, tmp_path, "litellm")
    written += write_imported(genai, tmp_path, "genai-prices")
    assert tmp_path / "catalog" / "litellm-openai.json" in written
    for path in written:
        pf, _ = read_provider_file(path)
        assert pf.note is not None and pf.note.startswith("Imported by `llmtally prices import")
        source = litellm if path.name.startswith("litellm-") else genai
        assert pf.model_copy(update={"note": None}) in source.files
    layered = Catalog.load(home=tmp_path)
    # gpt-4o is hand-checked ($2.50 since 2024-10-02): the import's $9.99 does not replace it
    assert layered.price_at("openai", "gpt-4o").rates.input == Decimal("2.50")
    assert layered.price_at("openai", "gpt-test").rates.input == Decimal("2.5")
    assert layered.price_at("together", "meta-llama/Llama-Test-70B").rates.output == Decimal("0.88")
    night = dt.datetime(2026, 1, 5, 20, 0, tzinfo=dt.UTC)
    assert layered.price_at("deepseek", "deepseek-test", night).rates.input == Decimal("0.135")
    day = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    assert layered.price_at("deepseek", "deepseek-test", day).rates.input == Decimal("0.27")


def test_the_full_reference_files_import_with_a_bounded_number_of_problems(
    reference_dir: Path,
) -> None:
    folder = reference_dir
    lite = import_prices("litellm", folder / "litellm_model_prices_and_context_window.json")
    genai = import_prices("genai-prices", folder / "genai-prices_data.json")
    assert sum(len(pf.models) for pf in lite.files) > 4000
    assert sum(len(pf.models) for pf in genai.files) > 1400
    assert len(lite.problems) < LITELLM_PROBLEMS_BOUND
    assert len(genai.problems) < GENAI_PROBLEMS_BOUND
    assert {"openai", "anthropic", "google", "xai", "together"} <= {
        pf.provider for pf in lite.files
    }
