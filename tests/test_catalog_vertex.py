"""Hand-computed costs for Google Vertex AI's Gemini token prices
(catalog/data/vertex.yaml, provider ``vertex``), and the names they answer to.

Every expected amount is worked by hand from the per-1M prices the price file
cites (the arithmetic is in the comment next to it), never by running the meter.

Source: Google's Cloud Billing Catalog API, service C7E2-9256-1C43 "Vertex AI",
https://cloudbilling.googleapis.com/v1/services/C7E2-9256-1C43/skus, read from
public repositories that quote the SKUs (ids and repositories in vertex.yaml's
notes). Usage follows the meter's convention: ``input_tokens`` counts every
prompt token, cache hits included; ``output_tokens`` counts every output token,
thinking (``reasoning_tokens``) included, as Vertex bills thinking as output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from catalog_cases import NOW, distinct_cases, each_case, priced, prices_cli, prices_json
from llmtally.catalog import Catalog, UnknownModelError
from llmtally.catalog.catalog import BUILTIN_DIR
from llmtally.catalog.loader import read_provider_file
from llmtally.meter import PricingError, cost
from llmtally.usage import Usage

FLASH = "gemini-2.5-flash"
PRO = "gemini-2.5-pro"
FLASH_38 = "gemini-3.8-flash"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


# (id, provider, model, usage, total, parts)
Case = tuple[str, str | None, str, dict[str, object], str, dict[str, str]]

CASES: list[Case] = [
    # --- Gemini 2.5 Flash: FDAB-647C-5A22 in $0.30, A1C1-77CC-6FAE cache hit $0.03,
    # AF56-1BF9-492A out $2.50 ----------------------------------------------------------
    # 100,000 x 0.30/1M = 0.03; 10,000 x 2.50/1M = 0.025; sum 0.055
    (
        "flash-plain",
        "vertex",
        FLASH,
        {"input_tokens": 100_000, "output_tokens": 10_000},
        "0.055",
        {"input": "0.03", "output": "0.025"},
    ),
    # 100,000 prompt, 80,000 of them cache hits: 20,000 x 0.30/1M = 0.006;
    # 80,000 x 0.03/1M = 0.0024; 2,000 x 2.50/1M = 0.005; sum 0.0134
    (
        "flash-cache-read",
        "vertex",
        FLASH,
        {"input_tokens": 100_000, "cache_read_tokens": 80_000, "output_tokens": 2_000},
        "0.0134",
        {"input": "0.006", "cache_read": "0.0024", "output": "0.005"},
    ),
    # the whole prompt a cache hit: 500,000 x 0.03/1M = 0.015
    (
        "flash-all-cached",
        "vertex",
        FLASH,
        {"input_tokens": 500_000, "cache_read_tokens": 500_000},
        "0.015",
        {"input": "0", "cache_read": "0.015"},
    ),
    # thinking billed as output ('GA Thinking Text Output' $2.50): 1,000 x 0.30/1M = 0.0003;
    # answer 1,000 x 2.50/1M = 0.0025; thinking 4,000 x 2.50/1M = 0.01; sum 0.0128
    (
        "flash-thinking",
        "vertex",
        FLASH,
        {"input_tokens": 1_000, "output_tokens": 5_000, "reasoning_tokens": 4_000},
        "0.0128",
        {"input": "0.0003", "output": "0.0025", "reasoning": "0.01"},
    ),
    # cache hits and thinking together, provider alias "google-vertex":
    # 10,000 x 0.30/1M = 0.003; 30,000 x 0.03/1M = 0.0009;
    # answer 500 x 2.50/1M = 0.00125; thinking 2,500 x 2.50/1M = 0.00625; sum 0.0114
    (
        "flash-cache-and-thinking",
        "google-vertex",
        FLASH,
        {
            "input_tokens": 40_000,
            "cache_read_tokens": 30_000,
            "output_tokens": 3_000,
            "reasoning_tokens": 2_500,
        },
        "0.0114",
        {"input": "0.003", "cache_read": "0.0009", "output": "0.00125", "reasoning": "0.00625"},
    ),
    # a 2.x SKU has no global/regional split: a regional endpoint path, same rates.
    # 1,000,000 x 0.30/1M = 0.30; 1,000,000 x 2.50/1M = 2.50; sum 2.80
    (
        "flash-regional-path",
        "vertex-ai",
        "projects/p1/locations/us-central1/publishers/google/models/gemini-2.5-flash",
        {"input_tokens": 1_000_000, "output_tokens": 1_000_000},
        "2.80",
        {"input": "0.30", "output": "2.50"},
    ),
    # named "vertex/<model>" with no provider: 3,000 x 0.30/1M = 0.0009;
    # 700 x 2.50/1M = 0.00175; sum 0.00265
    (
        "flash-prefixed",
        None,
        "vertex/gemini-2.5-flash",
        {"input_tokens": 3_000, "output_tokens": 700},
        "0.00265",
        {"input": "0.0009", "output": "0.00175"},
    ),
    # the smallest amounts: 1 x 0.30/1M = 0.0000003; 1 x 2.50/1M = 0.0000025; sum 0.0000028
    (
        "flash-one-token-each",
        "vertex",
        FLASH,
        {"input_tokens": 1, "output_tokens": 1},
        "0.0000028",
        {"input": "0.0000003", "output": "0.0000025"},
    ),
    # --- Gemini 2.5 Pro, prompts up to 200K tokens: A121-E2B5-1418 in $1.25,
    # 5DA2-3F77-1CA5 out $10 ------------------------------------------------------------
    # 100,000 x 1.25/1M = 0.125; 10,000 x 10/1M = 0.1; sum 0.225
    (
        "pro-plain",
        "vertex",
        PRO,
        {"input_tokens": 100_000, "output_tokens": 10_000},
        "0.225",
        {"input": "0.125", "output": "0.1"},
    ),
    # exactly 200,000 prompt tokens is still the standard ('Text Input') SKU:
    # 200,000 x 1.25/1M = 0.25; 1,000 x 10/1M = 0.01; sum 0.26
    (
        "pro-200k-prompt",
        "vertex",
        PRO,
        {"input_tokens": 200_000, "output_tokens": 1_000},
        "0.26",
        {"input": "0.25", "output": "0.01"},
    ),
    # thinking ('Thinking Text Output' E367-697F-F274, $10): 2,000 x 1.25/1M = 0.0025;
    # answer 1,000 x 10/1M = 0.01; thinking 7,000 x 10/1M = 0.07; sum 0.0825
    (
        "pro-thinking",
        "vertex",
        PRO,
        {"input_tokens": 2_000, "output_tokens": 8_000, "reasoning_tokens": 7_000},
        "0.0825",
        {"input": "0.0025", "output": "0.01", "reasoning": "0.07"},
    ),
    # an EU regional endpoint path, same SKU: 10,000 x 1.25/1M = 0.0125;
    # 1,000 x 10/1M = 0.01; sum 0.0225
    (
        "pro-regional-path",
        "gcp-vertex",
        "projects/p1/locations/europe-west4/publishers/google/models/gemini-2.5-pro",
        {"input_tokens": 10_000, "output_tokens": 1_000},
        "0.0225",
        {"input": "0.0125", "output": "0.01"},
    ),
    # the resource name itself: 1 x 1.25/1M = 0.00000125; 3 x 10/1M = 0.00003;
    # sum 0.00003125
    (
        "pro-resource-name",
        None,
        "publishers/google/models/gemini-2.5-pro",
        {"input_tokens": 1, "output_tokens": 3},
        "0.00003125",
        {"input": "0.00000125", "output": "0.00003"},
    ),
    # --- Gemini 3.8 Flash, global endpoint: 2A35-AC68-14D6 in $1.50,
    # 90FD-DC5F-DC55 out $7.50 ----------------------------------------------------------
    # 100,000 x 1.50/1M = 0.15; 10,000 x 7.50/1M = 0.075; sum 0.225
    (
        "flash-3.8-plain",
        "vertex",
        FLASH_38,
        {"input_tokens": 100_000, "output_tokens": 10_000},
        "0.225",
        {"input": "0.15", "output": "0.075"},
    ),
    # a call [WS] logged (5,252 prompt, 193 output of which 141 thinking):
    # 5,252 x 1.50/1M = 0.007878; answer 52 x 7.50/1M = 0.00039;
    # thinking 141 x 7.50/1M = 0.0010575; sum 0.0093255
    (
        "flash-3.8-thinking",
        "vertex",
        FLASH_38,
        {"input_tokens": 5_252, "output_tokens": 193, "reasoning_tokens": 141},
        "0.0093255",
        {"input": "0.007878", "output": "0.00039", "reasoning": "0.0010575"},
    ),
    # the global endpoint path: 1,000,000 x 1.50/1M = 1.50; 1,000,000 x 7.50/1M = 7.50;
    # sum 9.00
    (
        "flash-3.8-global-path",
        "vertex",
        "projects/p1/locations/global/publishers/google/models/gemini-3.8-flash",
        {"input_tokens": 1_000_000, "output_tokens": 1_000_000},
        "9.00",
        {"input": "1.50", "output": "7.50"},
    ),
    # alias "gcp-vertex": 20,000 x 1.50/1M = 0.03; 2,000 x 7.50/1M = 0.015; sum 0.045
    (
        "flash-3.8-alias",
        "gcp-vertex",
        FLASH_38,
        {"input_tokens": 20_000, "output_tokens": 2_000},
        "0.045",
        {"input": "0.03", "output": "0.015"},
    ),
]


@each_case(CASES)
def test_hand_computed_cost(catalog: Catalog, case: Case) -> None:
    _, provider, model, usage, total, parts = case
    got = priced(catalog, provider, model, usage, total, parts)
    assert got.price.provider == "vertex"
    assert got.long_context_above is None  # no length tier is recorded for these


def test_at_least_fifteen_distinct_cases() -> None:
    distinct_cases([case[0] for case in CASES], 15)


@pytest.mark.parametrize(
    ("provider", "model", "provider_id", "model_id"),
    [
        ("vertex", FLASH, "vertex", "google/gemini-2.5-flash"),
        ("vertex-ai", PRO, "vertex", "google/gemini-2.5-pro"),
        ("vertexai", FLASH_38, "vertex", "google/gemini-3.8-flash"),
        (None, "vertex/gemini-3.8-flash", "vertex", "google/gemini-3.8-flash"),
        # a bare name stays the Gemini Developer API price: google.yaml, or the seed
        (None, FLASH, "google", FLASH),
        (None, PRO, "google", PRO),
        (None, FLASH_38, "google", FLASH_38),
        # "vertex_ai" (LiteLLM's prefix) stays Google's alias, as before
        ("vertex_ai", FLASH, "google", FLASH),
        ("google", PRO, "google", PRO),
        # Flash-Lite is not Flash
        (None, "gemini-2.5-flash-lite", "google", "gemini-2.5-flash-lite"),
    ],
)
def test_names_resolve(
    catalog: Catalog, provider: str | None, model: str, provider_id: str, model_id: str
) -> None:
    ref = catalog.lookup(provider, model)
    assert (ref.provider, ref.spec.id) == (provider_id, model_id)


@pytest.mark.parametrize("model", ["gemini-2.5-flash-lite", "gemini-2.0-flash", "claude-opus-4-6"])
def test_no_vertex_price_where_no_sku_qualified(catalog: Catalog, model: str) -> None:
    """No price rather than the vendor's list price or a guess."""
    with pytest.raises(UnknownModelError):
        catalog.lookup("vertex", model)


def test_gemini_3_8_flash_regional_path_is_not_priced_at_the_global_rate(catalog: Catalog) -> None:
    path = "projects/p1/locations/us-central1/publishers/google/models/gemini-3.8-flash"
    with pytest.raises(UnknownModelError):
        catalog.lookup("vertex", path)


def test_batch_and_audio_are_not_priced(catalog: Catalog) -> None:
    """No batch SKU of Gemini 2.5 Flash and no audio-input SKU qualified: an error,
    never the standard rate (3.7 Flash and 3.x Pro have batch prices)."""
    price = catalog.price_at("vertex", FLASH, NOW)
    with pytest.raises(PricingError):
        cost(Usage(input_tokens=1_000, output_tokens=10, service_tier="batch"), price)
    with pytest.raises(PricingError):
        cost(Usage(input_tokens=1_000, input_audio_tokens=1_000), price)


def test_no_vertex_entry_owns_a_bare_name() -> None:
    """Every name in vertex.yaml is the name Vertex's OpenAI-compatible endpoint
    uses (``google/<model>``); the plain model names and the publisher-model
    resource names are rules, so a plain name given without a provider never
    finds this file."""
    spec, _ = read_provider_file(BUILTIN_DIR / "vertex.yaml")
    names = [name for model in spec.models for name in (model.id, *model.aliases)]
    assert names
    assert all(name.startswith("google/") for name in names)


# --- llmtally prices --------------------------------------------------------


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    return prices_cli(tmp_path, monkeypatch)


def test_prices_lists_the_vertex_models(run: Any) -> None:
    rows = {r["model"]: r for r in prices_json(run, "vertex") if r["provider"] == "vertex"}
    assert set(rows) == {
        "google/gemini-2.5-flash",
        "google/gemini-2.5-pro",
        "google/gemini-3.8-flash",
        # from one Catalog printout, with their tiers: tests/test_catalog_vertex_regional.py
        "google/gemini-3.7-flash",
        "google/gemini-3-pro-preview",
        "google/gemini-3.1-pro-preview",
    }
    flash = rows["google/gemini-2.5-flash"]
    assert (flash["input_per_1m"], flash["cache_read_per_1m"], flash["output_per_1m"]) == (
        "0.30",
        "0.03",
        "2.50",
    )
    assert all(r["currency"] == "USD" for r in rows.values())
    no_batch = [rows[f"google/{m}"] for m in (FLASH, PRO, FLASH_38)]
    assert all(r["batch_input_per_1m"] is None for r in no_batch)


def test_prices_of_a_bare_name_still_shows_googles_length_tier(run: Any) -> None:
    rows = {f"{r['provider']}/{r['model']}": r for r in prices_json(run, PRO)}
    google = rows["google/gemini-2.5-pro"]
    assert [c["above"] for c in google["long_context"]] == [200_000]
    assert rows["vertex/google/gemini-2.5-pro"]["long_context"] == []
