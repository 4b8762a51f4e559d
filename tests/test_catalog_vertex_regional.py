"""Hand-computed costs for Vertex AI's Gemini 3.x prices read from one dated Cloud
Billing Catalog printout: Gemini 3.7 Flash on the global endpoint (vertex.yaml,
provider ``vertex``) and on regional endpoints (vertex_regional.yaml, provider
``vertex-regional``), and Gemini 3 / 3.1 Pro (global) on both sides of their 200K
Long threshold, in every service tier (standard, batch, flex, priority).

Every expected amount is worked by hand from the per-1M prices the price files cite
(the arithmetic is in the comment next to it), never by running the meter.

Source: Google's Cloud Billing Catalog API, service C7E2-9256-1C43 "Vertex AI",
https://cloudbilling.googleapis.com/v1/services/C7E2-9256-1C43/skus, as printed on
2026-08-15 in xggyh/gcp-agent-fde-handbook, docs/10-cost-and-selection.md (commit
d72c41d239fbd613cf01fd73676109c5728a82f8); one source, named in both files' headers.
Usage follows the meter's convention: ``input_tokens`` counts every prompt token,
cache hits included; ``output_tokens`` counts every output token, thinking
(``reasoning_tokens``) included.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from catalog_cases import distinct_cases, each_case, priced, prices_cli, prices_json
from llmtally.catalog import Catalog, UnknownModelError
from llmtally.catalog.catalog import BUILTIN_DIR
from llmtally.catalog.loader import read_provider_file
from llmtally.catalog.schema import RATE_FIELDS, RatesSpec
from llmtally.meter import cost
from llmtally.usage import ServiceTier, Usage

FLASH_37 = "gemini-3.7-flash"
PRO_3 = "gemini-3-pro-preview"
PRO_31 = "gemini-3.1-pro-preview"
REGIONAL_PATH = "projects/p1/locations/europe-west4/publishers/google/models/gemini-3.7-flash"
GLOBAL_PATH = "projects/p1/locations/global/publishers/google/models/gemini-3.7-flash"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


# (id, provider, model, usage, total, parts, priced by, cliff crossed)
Case = tuple[str, str | None, str, dict[str, object], str, dict[str, str], str, int | None]

FLASH_CASES: list[Case] = [
    # --- Gemini 3.7 Flash: global $1.50 / $7.50, regional $1.65 / $8.25 (standard) -------
    # 100,000 x 1.50/1M = 0.15; 10,000 x 7.50/1M = 0.075; sum 0.225
    (
        "flash-37-global-standard",
        "vertex",
        FLASH_37,
        {"input_tokens": 100_000, "output_tokens": 10_000},
        "0.225",
        {"input": "0.15", "output": "0.075"},
        "vertex",
        None,
    ),
    # the same usage, regional: 100,000 x 1.65/1M = 0.165; 10,000 x 8.25/1M = 0.0825;
    # sum 0.2475 (= 0.225 x 1.1)
    (
        "flash-37-regional-standard",
        "vertex-regional",
        FLASH_37,
        {"input_tokens": 100_000, "output_tokens": 10_000},
        "0.2475",
        {"input": "0.165", "output": "0.0825"},
        "vertex-regional",
        None,
    ),
    # batch, global $0.75 / $3.75: 100,000 x 0.75/1M = 0.075; 10,000 x 3.75/1M = 0.0375;
    # sum 0.1125 (half of 0.225)
    (
        "flash-37-global-batch",
        "vertex",
        FLASH_37,
        {"input_tokens": 100_000, "output_tokens": 10_000, "service_tier": "batch"},
        "0.1125",
        {"input": "0.075", "output": "0.0375"},
        "vertex",
        None,
    ),
    # batch, regional $0.825 / $4.125: 100,000 x 0.825/1M = 0.0825;
    # 10,000 x 4.125/1M = 0.04125; sum 0.12375 (half of 0.2475; 0.1125 x 1.1)
    (
        "flash-37-regional-batch",
        "vertex_regional",
        FLASH_37,
        {"input_tokens": 100_000, "output_tokens": 10_000, "service_tier": "batch"},
        "0.12375",
        {"input": "0.0825", "output": "0.04125"},
        "vertex-regional",
        None,
    ),
    # flex, global (= batch rates): 1,000,000 x 0.75/1M = 0.75; 200,000 x 3.75/1M = 0.75;
    # sum 1.50
    (
        "flash-37-global-flex",
        "vertex-ai",
        FLASH_37,
        {"input_tokens": 1_000_000, "output_tokens": 200_000, "service_tier": "flex"},
        "1.50",
        {"input": "0.75", "output": "0.75"},
        "vertex",
        None,
    ),
    # priority, global $2.70 / $13.50: 1,000,000 x 2.70/1M = 2.70;
    # 100,000 x 13.50/1M = 1.35; sum 4.05
    (
        "flash-37-global-priority",
        "vertex",
        GLOBAL_PATH,
        {"input_tokens": 1_000_000, "output_tokens": 100_000, "service_tier": "priority"},
        "4.05",
        {"input": "2.70", "output": "1.35"},
        "vertex",
        None,
    ),
    # priority, regional $2.97 / $14.85: 1,000,000 x 2.97/1M = 2.97;
    # 100,000 x 14.85/1M = 1.485; sum 4.455 (= 4.05 x 1.1)
    (
        "flash-37-regional-priority",
        "vertex-regional",
        REGIONAL_PATH,
        {"input_tokens": 1_000_000, "output_tokens": 100_000, "service_tier": "priority"},
        "4.455",
        {"input": "2.97", "output": "1.485"},
        "vertex-regional",
        None,
    ),
    # thinking billed as output, regional path: 5,000 x 1.65/1M = 0.00825;
    # answer 1,000 x 8.25/1M = 0.00825; thinking 2,000 x 8.25/1M = 0.0165; sum 0.033
    (
        "flash-37-regional-thinking",
        "vertex-ai-regional",
        REGIONAL_PATH,
        {"input_tokens": 5_000, "output_tokens": 3_000, "reasoning_tokens": 2_000},
        "0.033",
        {"input": "0.00825", "output": "0.00825", "reasoning": "0.0165"},
        "vertex-regional",
        None,
    ),
    # no cache-hit rate: hits billed at the input rate. 6,000 x 1.65/1M = 0.0099;
    # 4,000 hits x 1.65/1M = 0.0066; 1,000 x 8.25/1M = 0.00825; sum 0.02475
    (
        "flash-37-regional-cache-at-input-rate",
        "vertex-regional",
        FLASH_37,
        {"input_tokens": 10_000, "cache_read_tokens": 4_000, "output_tokens": 1_000},
        "0.02475",
        {"input": "0.0099", "cache_read": "0.0066", "output": "0.00825"},
        "vertex-regional",
        None,
    ),
    # "vertex-regional/<model>" without a provider; the smallest amounts:
    # 1 x 1.65/1M = 0.00000165; 1 x 8.25/1M = 0.00000825; sum 0.0000099
    (
        "flash-37-regional-one-token-each",
        None,
        "vertex-regional/gemini-3.7-flash",
        {"input_tokens": 1, "output_tokens": 1},
        "0.0000099",
        {"input": "0.00000165", "output": "0.00000825"},
        "vertex-regional",
        None,
    ),
]

PRO_CASES: list[Case] = [
    # --- Gemini 3 / 3.1 Pro, global: $2 / $12, '(Long)' > 200K prompt tokens $4 / $18 ----
    # exactly 200,000 prompt tokens is not Long: 200,000 x 2/1M = 0.40; 1,000 x 12/1M = 0.012;
    # sum 0.412
    (
        "pro-3-at-200k",
        "vertex",
        PRO_3,
        {"input_tokens": 200_000, "output_tokens": 1_000},
        "0.412",
        {"input": "0.40", "output": "0.012"},
        "vertex",
        None,
    ),
    # one token more re-prices the whole request: 200,001 x 4/1M = 0.800004;
    # 1,000 x 18/1M = 0.018; sum 0.818004
    (
        "pro-3-over-200k",
        "vertex",
        PRO_3,
        {"input_tokens": 200_001, "output_tokens": 1_000},
        "0.818004",
        {"input": "0.800004", "output": "0.018"},
        "vertex",
        200_000,
    ),
    # cache hits count toward the prompt and, with no cache-hit rate, pay the Long input rate:
    # 300,000 x 4/1M = 1.20; 100,000 hits x 4/1M = 0.40; 2,000 x 18/1M = 0.036; sum 1.636
    (
        "pro-3-over-200k-cache-hits",
        "google-vertex",
        PRO_3,
        {"input_tokens": 400_000, "cache_read_tokens": 100_000, "output_tokens": 2_000},
        "1.636",
        {"input": "1.20", "cache_read": "0.40", "output": "0.036"},
        "vertex",
        200_000,
    ),
    # standard, Long: 300,000 x 4/1M = 1.20; 10,000 x 18/1M = 0.18; sum 1.38
    (
        "pro-31-standard-over-200k",
        "vertex",
        PRO_31,
        {"input_tokens": 300_000, "output_tokens": 10_000},
        "1.38",
        {"input": "1.20", "output": "0.18"},
        "vertex",
        200_000,
    ),
    # batch $1 / $6, Long $2 / $9; the same usage: 300,000 x 2/1M = 0.60;
    # 10,000 x 9/1M = 0.09; sum 0.69 (half of 1.38)
    (
        "pro-31-batch-over-200k",
        "vertex",
        PRO_31,
        {"input_tokens": 300_000, "output_tokens": 10_000, "service_tier": "batch"},
        "0.69",
        {"input": "0.60", "output": "0.09"},
        "vertex",
        200_000,
    ),
    # batch at the threshold: 200,000 x 1/1M = 0.20; 10,000 x 6/1M = 0.06; sum 0.26
    (
        "pro-31-batch-at-200k",
        "vertex",
        PRO_31,
        {"input_tokens": 200_000, "output_tokens": 10_000, "service_tier": "batch"},
        "0.26",
        {"input": "0.20", "output": "0.06"},
        "vertex",
        None,
    ),
    # flex = batch, Long: 1,000,000 x 2/1M = 2.00; 100,000 x 9/1M = 0.90; sum 2.90
    (
        "pro-3-flex-over-200k",
        "vertex",
        PRO_3,
        {"input_tokens": 1_000_000, "output_tokens": 100_000, "service_tier": "flex"},
        "2.90",
        {"input": "2.00", "output": "0.90"},
        "vertex",
        200_000,
    ),
    # priority $3.60 / $21.60 under the threshold: 100,000 x 3.60/1M = 0.36;
    # 5,000 x 21.60/1M = 0.108; sum 0.468
    (
        "pro-31-priority-under-200k",
        "vertex",
        PRO_31,
        {"input_tokens": 100_000, "output_tokens": 5_000, "service_tier": "priority"},
        "0.468",
        {"input": "0.36", "output": "0.108"},
        "vertex",
        None,
    ),
    # priority Long $7.20 / $32.40: 250,000 x 7.20/1M = 1.80; 5,000 x 32.40/1M = 0.162;
    # sum 1.962
    (
        "pro-31-priority-over-200k",
        "vertex",
        PRO_31,
        {"input_tokens": 250_000, "output_tokens": 5_000, "service_tier": "priority"},
        "1.962",
        {"input": "1.80", "output": "0.162"},
        "vertex",
        200_000,
    ),
    # the global endpoint path, thinking billed as output: 50,000 x 2/1M = 0.10;
    # answer 1,000 x 12/1M = 0.012; thinking 5,000 x 12/1M = 0.06; sum 0.172
    (
        "pro-31-global-path-thinking",
        "vertex",
        "projects/p1/locations/global/publishers/google/models/gemini-3.1-pro-preview",
        {"input_tokens": 50_000, "output_tokens": 6_000, "reasoning_tokens": 5_000},
        "0.172",
        {"input": "0.10", "output": "0.012", "reasoning": "0.06"},
        "vertex",
        None,
    ),
]

CASES = FLASH_CASES + PRO_CASES


@each_case(CASES)
def test_hand_computed_cost(catalog: Catalog, case: Case) -> None:
    _, provider, model, usage, total, parts, priced_by, above = case
    got = priced(catalog, provider, model, usage, total, parts)
    assert got.price.provider == priced_by
    assert got.long_context_above == above


def test_at_least_fourteen_distinct_cases() -> None:
    distinct_cases([case[0] for case in CASES], 14)


# --- Regional = Global x 1.1 ------------------------------------------------


def _tiers(spec: Any) -> dict[str, RatesSpec]:
    found: dict[str, RatesSpec] = {"standard": spec}
    for name in ("batch", "flex", "priority"):
        tier = getattr(spec, name)
        if tier is not None:
            found[name] = tier
    return found


def _rates(spec: RatesSpec) -> dict[str, Decimal]:
    return {f: getattr(spec, f) for f in RATE_FIELDS if getattr(spec, f) is not None}


def test_every_regional_rate_is_the_global_rate_times_1_1() -> None:
    """Each rate of vertex_regional.yaml is exactly 1.1 x the same model's, tier's and
    rate's global price in vertex.yaml, with the same rates and tiers priced."""
    regional, _ = read_provider_file(BUILTIN_DIR / "vertex_regional.yaml")
    global_, _ = read_provider_file(BUILTIN_DIR / "vertex.yaml")
    by_id = {m.id: m for m in global_.models}
    pairs = 0
    for model in regional.models:
        assert len(model.prices) == len(by_id[model.id].prices) == 1
        reg_tiers = _tiers(model.prices[0])
        glo_tiers = _tiers(by_id[model.id].prices[0])
        assert set(reg_tiers) == set(glo_tiers) == {"standard", "batch", "flex", "priority"}
        for tier, reg_spec in reg_tiers.items():
            reg, glo = _rates(reg_spec), _rates(glo_tiers[tier])
            assert set(reg) == set(glo) == {"input", "output"}, (model.id, tier)
            for name, rate in reg.items():
                assert rate == glo[name] * Decimal("1.1"), (model.id, tier, name)
                pairs += 1
    assert pairs == 8  # 3.7 Flash: 4 tiers x (input, output)


@pytest.mark.parametrize("tier", ["standard", "batch", "flex", "priority"])
def test_same_call_costs_1_1_times_as_much_regionally(catalog: Catalog, tier: ServiceTier) -> None:
    usage = Usage(input_tokens=123_457, output_tokens=9_876, service_tier=tier)
    glo = cost(usage, catalog.price_at("vertex", FLASH_37))
    reg = cost(usage, catalog.price_at("vertex-regional", FLASH_37))
    assert reg.total == glo.total * Decimal("1.1")


# --- names ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model", "provider_id", "model_id"),
    [
        ("vertex", FLASH_37, "vertex", "google/gemini-3.7-flash"),
        ("vertex", GLOBAL_PATH, "vertex", "google/gemini-3.7-flash"),
        (
            "vertex-regional",
            FLASH_37,
            "vertex-regional",
            "google/gemini-3.7-flash",
        ),
        (
            "vertex_regional",
            REGIONAL_PATH,
            "vertex-regional",
            "google/gemini-3.7-flash",
        ),
        (
            "vertexai-regional",
            FLASH_37,
            "vertex-regional",
            "google/gemini-3.7-flash",
        ),
        ("vertex", PRO_3, "vertex", "google/gemini-3-pro-preview"),
        ("vertex-ai", PRO_31, "vertex", "google/gemini-3.1-pro-preview"),
        # a bare resource name is taken as global (vertex.yaml sorts first)
        (
            None,
            "publishers/google/models/gemini-3.7-flash",
            "vertex",
            "google/gemini-3.7-flash",
        ),
        # Vertex's OpenAI-compatible name, given without a provider, is Google's own
        (None, "google/gemini-3.7-flash", "google", FLASH_37),
        # bare model names stay the Gemini Developer API's (google.yaml or the seed)
        (None, FLASH_37, "google", FLASH_37),
        (None, PRO_3, "google", PRO_3),
        (None, PRO_31, "google", PRO_31),
    ],
)
def test_names_resolve(
    catalog: Catalog, provider: str | None, model: str, provider_id: str, model_id: str
) -> None:
    ref = catalog.lookup(provider, model)
    assert (ref.provider, ref.spec.id) == (provider_id, model_id)


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("vertex-regional", GLOBAL_PATH),  # the global endpoint is vertex.yaml's
        ("vertex", REGIONAL_PATH),  # never the global rate for a regional call
        ("vertex-regional", PRO_3),  # no Global / Regional split stated for Pro
        ("vertex-regional", "gemini-3.8-flash"),  # no Regional quote
        (
            "vertex",
            "projects/p1/locations/us-central1/publishers/google/models/gemini-3-pro-preview",
        ),
    ],
)
def test_no_price_where_the_printout_states_none(
    catalog: Catalog, provider: str, model: str
) -> None:
    with pytest.raises(UnknownModelError):
        catalog.lookup(provider, model)


# --- llmtally prices --------------------------------------------------------


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    return prices_cli(tmp_path, monkeypatch)


def test_prices_lists_the_regional_model(run: Any) -> None:
    rows = prices_json(run, "vertex-regional")
    assert [(r["provider"], r["model"]) for r in rows] == [
        ("vertex-regional", "google/gemini-3.7-flash")
    ]
    (row,) = rows
    assert (row["input_per_1m"], row["output_per_1m"]) == ("1.65", "8.25")
    assert (row["batch_input_per_1m"], row["batch_output_per_1m"]) == ("0.825", "4.125")
    assert row["cache_read_per_1m"] is None
    assert row["currency"] == "USD"
    assert row["long_context"] == []


def test_prices_shows_the_pro_long_tier(run: Any) -> None:
    rows = {r["model"]: r for r in prices_json(run, "vertex/") if r["provider"] == "vertex"}
    pro = rows["google/gemini-3.1-pro-preview"]
    assert (pro["input_per_1m"], pro["output_per_1m"]) == ("2.00", "12.00")
    assert (pro["batch_input_per_1m"], pro["batch_output_per_1m"]) == ("1.00", "6.00")
    assert pro["long_context"] == [
        {"above": 200_000, "output_above": None, "input_per_1m": "4.00", "output_per_1m": "18.00"}
    ]
