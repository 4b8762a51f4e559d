"""Workload estimates through the Python API, against hand-computed figures.

Every expected amount below is worked out by hand from the catalog's list
prices (USD per 1M tokens unless noted); the arithmetic is in the comments.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmtally.catalog import Catalog
from llmtally.estimate import Estimate, ModelEstimate, estimate, parse_workload
from llmtally.meter import cost
from llmtally.tokens.languages import language_tax, load_corpus
from llmtally.tokens.registry import default_registry
from llmtally.usage import ImageUnits, Usage

D = Decimal
CASES = Path(__file__).parent / "cost_cases.yaml"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def run(catalog: Catalog, text: str, models: list[str] | None = None) -> Estimate:
    return estimate(parse_workload(text), models, catalog=catalog)


def one(catalog: Catalog, text: str, model: str) -> ModelEstimate:
    row = run(catalog, text, [model]).models[0]
    assert row.error is None, row.error
    return row


# --- the classic comparison, from the hand-checked cost cases ------------------


def _classic_cases() -> list[dict[str, Any]]:
    cases = yaml.safe_load(CASES.read_text(encoding="utf-8"))
    return [c for c in cases if "classic" in c.get("features", [])]


def _classic_workload(case: dict[str, Any]) -> str:
    usage = case["usage"]
    lines = [f"price_date: {case['at'][:10]}", "requests: {per_month: 1}", "request:"]
    lines.append(f"  user_input: {usage.get('input_tokens', 0)}")
    lines.append(f"  output: {usage.get('output_tokens', 0)}")
    if usage.get("service_tier") == "batch":
        lines.append("tiers: {batch: 1}")
    for image in usage.get("images", []):
        quality = image.get("quality", "standard")
        lines.append(
            f"images_out: {{count: {image['n']}, size: {image['size']}, quality: {quality}}}"
        )
    return "\n".join(lines)


@pytest.mark.parametrize("case", _classic_cases(), ids=lambda c: c["id"])
def test_the_classic_figures(catalog: Catalog, case: dict[str, Any]) -> None:
    # GPT-4 $90, GPT-3.5 Turbo $3.50, GPT-4o mini Batch $0.75, o1-mini $7.50,
    # DALL-E 3 $2.00, DALL-E 2 $1.00: the `why` of each case has the arithmetic.
    row = one(catalog, _classic_workload(case), f"{case['provider']}/{case['model']}")
    assert row.per_month == D(case["total"])
    assert row.per_request == D(case["total"])


def test_there_are_six_classic_figures() -> None:
    assert len(_classic_cases()) == 6


# --- prompt caching --------------------------------------------------------------

CACHED = """
price_date: 2026-01-15
requests: {{per_month: 1000}}
request:
  system_prompt: 10000
  user_input: 1000
  output: 500
  cache: {{hit_rate: {hit}, ttl: {ttl}}}
"""


def test_anthropic_cache_at_high_reuse_saves(catalog: Catalog) -> None:
    # claude-sonnet-4-5: input $3, 5m write $3.75, read $0.30, output $15.
    # per request: read 0.9 x 10,000 x 0.30/1M = 0.0027; write 0.1 x 10,000 x 3.75/1M =
    # 0.00375; user 1,000 x 3/1M = 0.003; output 500 x 15/1M = 0.0075; total 0.01695.
    row = one(catalog, CACHED.format(hit="0.9", ttl="5m"), "anthropic/claude-sonnet-4-5")
    assert row.per_request == D("0.01695")
    assert row.per_month == D("16.95")
    assert row.components["cache_read"] == D("2.7")
    assert row.components["cache_write"] == D("3.75")
    # no caching: 10,000 x 3/1M = 0.03; saving 0.03 - 0.0027 - 0.00375 = 0.02355 a request
    (cache,) = row.caches
    assert cache.saving_per_request == D("0.02355")
    assert cache.saving_per_month == D("23.55")
    # break-even: (3.75 - 3) / (3.75 - 0.30) = 0.75 / 3.45 = 0.21739... -> 0.2174
    assert cache.break_even_hit_rate == D("0.2174")


def test_a_rarely_reused_cache_is_a_cost(catalog: Catalog) -> None:
    # hit rate 0.1: read 1,000 x 0.30/1M = 0.0003; write 9,000 x 3.75/1M = 0.03375;
    # the system prompt costs 0.03405 against 0.03 uncached: -0.00405 a request.
    row = one(catalog, CACHED.format(hit="0.1", ttl="5m"), "anthropic/claude-sonnet-4-5")
    (cache,) = row.caches
    assert cache.saving_per_request == D("-0.00405")
    assert cache.saving_per_month == D("-4.05")
    # per request 0.03405 + 0.003 + 0.0075 = 0.04455; with no cache it would be 0.0405
    assert row.per_month == D("44.55")


def test_the_one_hour_cache_writes_at_twice_input(catalog: Catalog) -> None:
    # 1h writes $6: write 1,000 x 6/1M = 0.006; read 0.0027; rest as before:
    # 0.0027 + 0.006 + 0.003 + 0.0075 = 0.0192; break-even (6 - 3) / (6 - 0.3) = 0.5263
    row = one(catalog, CACHED.format(hit="0.9", ttl="1h"), "anthropic/claude-sonnet-4-5")
    assert row.per_request == D("0.0192")
    assert row.caches[0].break_even_hit_rate == D("0.5263")


def test_a_cache_without_write_premium_always_saves(catalog: Catalog) -> None:
    # gpt-4o-mini (2026): input $0.15, cached $0.075, no write price: a miss is input.
    # hit 0.1: read 1,000 x 0.075/1M = 0.000075; miss 9,000 x 0.15/1M = 0.00135;
    # saving 10,000 x 0.15/1M - 0.000075 - 0.00135 = 0.0015 - 0.001425 = 0.000075
    row = one(catalog, CACHED.format(hit="0.1", ttl="5m"), "openai/gpt-4o-mini")
    assert row.components["cache_write"] == 0
    assert row.caches[0].saving_per_request == D("0.000075")
    assert row.caches[0].break_even_hit_rate == 0


def test_a_model_without_cache_prices_bills_the_prefix_as_input(catalog: Catalog) -> None:
    text = CACHED.format(hit="0.9", ttl="5m").replace("2026-01-15", "2023-07-01")
    row = one(catalog, text, "openai/gpt-4")
    # 11,000 x 30/1M + 500 x 60/1M = 0.33 + 0.03 = 0.36
    assert row.per_request == D("0.36")
    assert not row.caches[0].priced and row.caches[0].saving_per_month == 0
    assert any("prices no prompt caching" in note for note in row.notes)


def test_cache_economics_match_the_meter_on_whole_calls(catalog: Catalog) -> None:
    # the estimate is the hit-weighted mean of two real calls priced by the meter
    price = catalog.price_at("anthropic", "claude-sonnet-4-5", dt.datetime(2026, 1, 15, 12))
    hit = cost(Usage(input_tokens=11000, cache_read_tokens=10000, output_tokens=500), price)
    miss = cost(Usage(input_tokens=11000, cache_write_tokens=10000, output_tokens=500), price)
    row = one(catalog, CACHED.format(hit="0.9", ttl="5m"), "anthropic/claude-sonnet-4-5")
    assert row.per_request == D("0.9") * hit.total + D("0.1") * miss.total


# --- service tiers -----------------------------------------------------------------

TIERS = """
price_date: 2025-01-15
requests: {per_month: 1}
tiers: {batch: 0.5}
request: {user_input: 1000000, output: 1000000}
"""


def test_a_batch_share_mixes_both_prices(catalog: Catalog) -> None:
    # gpt-4o-mini standard 0.15 + 0.60 = 0.75; batch 0.075 + 0.30 = 0.375;
    # half each: 0.375 + 0.1875 = 0.5625
    assert one(catalog, TIERS, "openai/gpt-4o-mini").per_month == D("0.5625")


def test_a_tier_the_model_lacks_is_an_error_row_not_the_standard_price(catalog: Catalog) -> None:
    est = run(catalog, TIERS.replace("2025-01-15", "2024-10-15"), ["o1-mini", "gpt-4o-mini"])
    bad = est.model("openai/o1-mini")
    assert bad.per_month is None
    assert "has no batch price" in (bad.error or "")
    assert est.models[-1] is bad  # errors sort last
    assert est.model("gpt-4o-mini").per_month == D("0.5625")


# --- background calls ----------------------------------------------------------------

BACKGROUND = """
price_date: 2025-01-15
requests: {per_day: 1000}
request: {user_input: 1000, output: 200}
background:
  - name: title
    per_request: 0.1
    model: openai/gpt-4o
    user_input: 1000
    output: 100
"""


def test_background_calls_on_their_own_model(catalog: Catalog) -> None:
    # main on gpt-4o-mini: 1,000 x 0.15/1M + 200 x 0.60/1M = 0.00015 + 0.00012 = 0.00027
    # title on gpt-4o ($2.50/$10): 1,000 x 2.5/1M + 100 x 10/1M = 0.0035, x 0.1 = 0.00035
    # per request 0.00062; 30,000 requests a month: 18.6; per day 0.62
    row = one(catalog, BACKGROUND, "openai/gpt-4o-mini")
    assert row.per_request == D("0.00062")
    assert row.per_month == D("18.6")
    assert row.per_day == D("0.62")
    assert row.sources["background"] == D("10.5")  # 0.00035 x 30,000
    assert row.sources["prompt"] == D("4.5")  # 0.00015 x 30,000
    assert row.sources["output"] == D("3.6")
    title = next(c for c in row.calls if c.name == "title")
    assert title.model == "openai/gpt-4o" and title.cost_per_request == D("0.00035")


def test_background_calls_stay_on_their_model_for_every_compared_model(
    catalog: Catalog,
) -> None:
    est = run(catalog, BACKGROUND, ["gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo"])
    assert {row.sources["background"] for row in est.models} == {D("10.5")}


# --- language inflation ----------------------------------------------------------------

LANGUAGES = """
price_date: 2025-01-15
requests: {per_month: 1}
languages: {en: 0.5, ja: 0.5}
request: {system_prompt: 1000, user_input: 1000}
"""


def test_language_inflation_uses_the_tokenizers_measurement(catalog: Catalog) -> None:
    # gpt-4o counts with o200k_base; the corpus measures Japanese at j/e tokens of
    # English (466 and 728 when this was written: 1.5622...). The user input in
    # Japanese: 1,000 x j/e rounded half-up; the system prompt is not localized.
    registry = default_registry()
    rows = language_tax([("o200k", registry.get("o200k_base"))], ["ja"])
    inflation = next(r.inflation for r in rows if r.code == "ja")
    japanese = int(1000 * inflation + Fraction(1, 2))
    # per request: system 1,000 + user (0.5 x 1,000 + 0.5 x japanese), at $2.50/1M
    expected = (1000 + D("0.5") * 1000 + D("0.5") * japanese) * D("2.5") / 1_000_000
    row = one(catalog, LANGUAGES, "openai/gpt-4o")
    assert row.per_request == expected
    assert row.sources["system"] == D("0.0025")  # 1,000 x 2.5/1M, every language
    assert japanese > 1000


def test_an_unknown_language_is_a_workload_error(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match=r"languages\.xx: no measurements for language 'xx'"):
        run(catalog, LANGUAGES.replace("ja: 0.5", "xx: 0.5"), ["gpt-4o"])


# --- media ------------------------------------------------------------------------------

MEDIA = """
price_date: 2025-01-15
requests: {per_month: 1}
request:
  images_in: [{count: 2, width: 1024, height: 1024, detail: high}]
images_out: {model: openai/dall-e-3, count: 0.5, size: 1024x1024, quality: hd}
audio: {model: openai/whisper-1, minutes: 2.5}
"""


def test_images_in_and_out_and_audio(catalog: Catalog) -> None:
    # images in: gpt-4o 1024x1024 high = 85 + 4 tiles x 170 = 765 tokens, x 2 = 1,530
    #   x 2.5/1M = 0.003825
    # images out: DALL-E 3 1024x1024 hd $0.080 x 0.5 = 0.04
    # audio: Whisper 150 s x $0.006/min = 0.015
    row = one(catalog, MEDIA, "openai/gpt-4o")
    assert row.components["images"] == D("0.043825")
    assert row.components["audio"] == D("0.015")
    assert row.sources["media"] == D("0.058825") == row.per_month


def test_a_model_without_an_image_rule_cannot_be_estimated(catalog: Catalog) -> None:
    bad = run(catalog, MEDIA, ["deepseek/deepseek-chat"]).models[0]
    assert bad.error is not None and "images_in: no image-token rule" in bad.error


def test_images_out_price_matches_the_meter(catalog: Catalog) -> None:
    price = catalog.price_at("openai", "dall-e-3", dt.datetime(2025, 1, 15, 12))
    one_image = cost(Usage(images=(ImageUnits(1, "1024x1024", "hd"),)), price).images
    assert one_image == D("0.080")


# --- embeddings and vector storage -------------------------------------------------------

EMBEDDINGS = """
price_date: 2025-01-15
requests: {per_month: 1000000}
embeddings:
  model: openai/text-embedding-3-small
  documents: 100000
  tokens_each: 500
  reembed_per_month: 2
  new_documents_per_month: 10000
  query_tokens: 20
  tier: batch
vector_storage: {dimensions: 1536, usd_per_gb_month: "0.25"}
"""


def test_embeddings_and_storage(catalog: Catalog) -> None:
    # text-embedding-3-small $0.02/1M, batch $0.01/1M. Corpus 100,000 x 500 = 50M tokens.
    # one-off (batch): 50M x 0.01/1M = 0.50
    # monthly: re-embed 2 x 50M x 0.01/1M = 1.00; new 10,000 x 500 = 5M x 0.01/1M = 0.05
    # queries: 20 x 0.02/1M = 0.0000004 a request, x 1M requests = 0.40
    # storage: 100,000 x 1,536 x 4 bytes = 0.6144 GB x 0.25 = 0.1536
    row = one(catalog, EMBEDDINGS, "openai/gpt-4o-mini")
    assert row.one_off == D("0.50")
    assert row.per_request == D("0.0000004")
    assert row.components["embeddings"] == D("1.45")
    assert row.components["storage"] == D("0.1536")
    assert row.per_month == D("1.6036")


# --- output distributions, reasoning, cliffs ------------------------------------------------

OUTPUT = """
price_date: 2025-06-01
requests: {{per_month: 1}}
request:
  output: {output}
{reasoning}
"""


def test_output_percentiles_are_averaged_linearly(catalog: Catalog) -> None:
    # p50 200, p90 600, p100 1000: 0.5 x 200 + 0.4 x (200 + 600)/2 + 0.1 x (600 + 1000)/2
    # = 100 + 160 + 80 = 340 tokens x $0.60/1M (gpt-4o-mini) = 0.000204
    text = OUTPUT.format(output="{percentiles: {p50: 200, p90: 600, p100: 1000}}", reasoning="")
    row = one(catalog, text, "openai/gpt-4o-mini")
    assert row.calls[0].tokens["output"] == 340
    assert row.per_request == D("0.000204")


def test_reasoning_effort_counts_on_reasoning_models_only(catalog: Catalog) -> None:
    # o4-mini ($4.40 out): 100 visible + medium effort 4 x 100 = 400 reasoning;
    # 500 x 4.4/1M = 0.0022. gpt-4o-mini is not a reasoning model: 100 x 0.6/1M.
    text = OUTPUT.format(output="100", reasoning="  reasoning: {effort: medium}")
    est = run(catalog, text, ["o4-mini", "gpt-4o-mini"])
    assert est.model("o4-mini").components["reasoning"] == D("0.00176")
    assert est.model("o4-mini").per_request == D("0.0022")
    plain = est.model("gpt-4o-mini")
    assert plain.per_request == D("0.00006")
    assert any("not a reasoning model" in note for note in plain.notes)
    forced = text.replace("medium}", "medium, applies_to: all}")
    # 100 + 400 tokens x 0.6/1M = 0.0003
    assert one(catalog, forced, "gpt-4o-mini").per_request == D("0.0003")


def test_a_long_prompt_crosses_the_cliff(catalog: Catalog) -> None:
    # claude-sonnet-4-5 above 200K input: $6 / $22.50 for the whole request.
    # 250,000 x 6/1M + 1,000 x 22.5/1M = 1.5 + 0.0225 = 1.5225; below: 150,000 x 3/1M + 0.015
    text = (
        "price_date: 2026-01-15\nrequests: {per_month: 1}\nrequest: {user_input: N, output: 1000}"
    )
    above = one(catalog, text.replace("N", "250000"), "anthropic/claude-sonnet-4-5")
    below = one(catalog, text.replace("N", "150000"), "anthropic/claude-sonnet-4-5")
    assert above.per_request == D("1.5225")
    assert below.per_request == D("0.465")


def test_a_model_without_a_price_at_the_date_is_an_error_row(catalog: Catalog) -> None:
    est = run(catalog, TIERS.replace("2025-01-15", "2023-01-01"), ["gpt-4o-mini", "gpt-4"])
    assert "had no price on 2023-01-01" in (est.model("gpt-4o-mini").error or "")


def test_components_and_sources_add_up_to_the_month(catalog: Catalog) -> None:
    for text in (BACKGROUND, MEDIA, EMBEDDINGS, CACHED.format(hit="0.3", ttl="5m")):
        row = run(catalog, text, ["gpt-4o"]).models[0]
        assert row.per_month == sum(row.components.values()) == sum(row.sources.values())


def test_json_amounts_are_exact_strings(catalog: Catalog) -> None:
    data = run(catalog, BACKGROUND, ["gpt-4o-mini"]).as_json()
    model = data["models"][0]
    assert model["per_request"] == "0.00062" and model["per_month"] == "18.6"
    assert model["sources_per_month"]["background"] == "10.5"


# --- text parts and token figures from another tokenizer ----------------------------------

SYSTEM_TEXT = "You are a careful assistant. Cite your sources; never invent a price."


def test_text_parts_are_counted_with_each_models_tokenizer(catalog: Catalog) -> None:
    text = f"""
price_date: 2025-01-15
requests: {{per_month: 1}}
request:
  system_prompt: {{text: "{SYSTEM_TEXT}"}}
"""
    registry = default_registry()
    est = run(catalog, text, ["gpt-4o", "gpt-4"])
    for model, tokenizer in (("gpt-4o", "o200k_base"), ("gpt-4", "cl100k_base")):
        counted = registry.get(tokenizer).count(SYSTEM_TEXT)
        assert est.model(model).calls[0].tokens["input"] == counted


def test_counted_with_converts_figures_by_the_corpus_ratio(catalog: Catalog) -> None:
    # 1,000 tokens counted by gpt-4's tokenizer (cl100k_base) are, on
    # claude-3-5-haiku's (claude_approx), 1,000 x claude/cl100k English corpus tokens,
    # rounded half-up; at $0.80/1M.
    registry = default_registry()
    english = load_corpus()[0].passages

    def corpus(name: str) -> int:
        return sum(registry.get(name).count(p) for p in english)

    converted = int(
        1000 * Fraction(corpus("claude_legacy"), corpus("cl100k_base")) + Fraction(1, 2)
    )
    text = "price_date: 2025-01-15\ncounted_with: openai/gpt-4\nrequests: {per_month: 1}\n"
    text += "request: {user_input: 1000}\n"
    row = one(catalog, text, "anthropic/claude-3-5-haiku")
    assert row.calls[0].tokens["input"] == converted
    assert row.per_request == converted * D("0.8") / 1_000_000
    assert one(catalog, text, "openai/gpt-4").calls[0].tokens["input"] == 1000
