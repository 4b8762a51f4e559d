"""Hand-computed costs for the rest of Amazon Bedrock's per-token prices: the Meta Llama
models (catalog/data/bedrock_meta.yaml) on-demand and batch, their cross-Region profile
ids, and more of the Claude cases (cache reads and writes, global vs regional, batch with
cache) on catalog/data/bedrock.yaml.

Every expected amount is worked by hand from the per-1M prices the price files cite (the
arithmetic is in the comment next to it), never by running the meter.

Llama: AWS Price List offer AmazonBedrock, us-east-1, version 20260930230255,
https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonBedrock/current/us-east-1/index.json
(read from a capture; usage types and SKUs in bedrock_meta.yaml's notes). The offer prices
per 1K tokens; the file's per-1M price is that x 1000. Claude: offer
AmazonBedrockFoundationModels, version 20260930001912 (SKUs in bedrock.yaml's notes).
Usage follows the meter's convention: ``input_tokens`` counts every prompt token, cache
reads and writes included; ``cache_write_tokens`` counts every write, the 1-hour ones too.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

import llmtally.catalog
from catalog_cases import NOW, distinct_cases, each_case, priced
from llmtally.catalog import Catalog, UnknownModelError
from llmtally.catalog.loader import read_provider_file
from llmtally.meter import PricingError, cost
from llmtally.usage import Usage

DATA = Path(llmtally.catalog.__file__).parent / "data"
ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
FM_ARN = "arn:aws:bedrock:us-east-1::foundation-model/"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


# (id, provider, model, usage, total, parts)
Case = tuple[str, str | None, str, dict[str, object], str, dict[str, str]]

LLAMA_CASES: list[Case] = [
    # --- Llama 3.3 70B: $0.00072 / $0.00072 per 1K = $0.72 / $0.72 per 1M ----------------
    # 1,000,000 x 0.72/1M = 0.72; 500,000 x 0.72/1M = 0.36; sum 1.08
    (
        "llama3.3-70b-on-demand",
        "bedrock",
        "meta.llama3-3-70b-instruct-v1:0",
        {"input_tokens": 1_000_000, "output_tokens": 500_000},
        "1.08",
        {"input": "0.72", "output": "0.36"},
    ),
    # the us. cross-Region profile costs the source Region's price: the same 1.08
    (
        "llama3.3-70b-us-profile",
        "bedrock",
        "us.meta.llama3-3-70b-instruct-v1:0",
        {"input_tokens": 1_000_000, "output_tokens": 500_000},
        "1.08",
        {"input": "0.72", "output": "0.36"},
    ),
    # batch $0.00036 / $0.00036 per 1K = $0.36 / $0.36: 1,000,000 x 0.36/1M = 0.36;
    # 500,000 x 0.36/1M = 0.18; sum 0.54 (half of 1.08)
    (
        "llama3.3-70b-batch",
        "bedrock",
        "us.meta.llama3-3-70b-instruct-v1:0",
        {"input_tokens": 1_000_000, "output_tokens": 500_000, "service_tier": "batch"},
        "0.54",
        {"input": "0.36", "output": "0.18"},
    ),
    # --- Llama 4 Maverick 17B: $0.00024 / $0.00097 per 1K = $0.24 / $0.97 per 1M ---------
    # 200,000 x 0.24/1M = 0.048; 50,000 x 0.97/1M = 0.0485; sum 0.0965
    (
        "llama4-maverick-on-demand",
        "bedrock",
        "meta.llama4-maverick-17b-instruct-v1:0",
        {"input_tokens": 200_000, "output_tokens": 50_000},
        "0.0965",
        {"input": "0.048", "output": "0.0485"},
    ),
    # batch $0.00012 / $0.000485 per 1K = $0.12 / $0.485 (us. profile):
    # 200,000 x 0.12/1M = 0.024; 50,000 x 0.485/1M = 0.02425; sum 0.04825
    (
        "llama4-maverick-us-profile-batch",
        "bedrock",
        "us.meta.llama4-maverick-17b-instruct-v1:0",
        {"input_tokens": 200_000, "output_tokens": 50_000, "service_tier": "batch"},
        "0.04825",
        {"input": "0.024", "output": "0.02425"},
    ),
    # --- Llama 4 Scout 17B: $0.00017 / $0.00066 per 1K = $0.17 / $0.66 per 1M ------------
    # 1,000,000 x 0.17/1M = 0.17; 100,000 x 0.66/1M = 0.066; sum 0.236
    (
        "llama4-scout-on-demand",
        "bedrock",
        "meta.llama4-scout-17b-instruct-v1:0",
        {"input_tokens": 1_000_000, "output_tokens": 100_000},
        "0.236",
        {"input": "0.17", "output": "0.066"},
    ),
    # batch $0.000085 / $0.00033 per 1K = $0.085 / $0.33, through an inference-profile ARN:
    # 1,000,000 x 0.085/1M = 0.085; 100,000 x 0.33/1M = 0.033; sum 0.118
    (
        "llama4-scout-arn-batch",
        "bedrock",
        ARN + "us.meta.llama4-scout-17b-instruct-v1:0",
        {"input_tokens": 1_000_000, "output_tokens": 100_000, "service_tier": "batch"},
        "0.118",
        {"input": "0.085", "output": "0.033"},
    ),
    # --- Llama 3.1 8B: $0.00022 / $0.00022 per 1K = $0.22 / $0.22 per 1M -----------------
    # eu. profile: 300,000 x 0.22/1M = 0.066; 100,000 x 0.22/1M = 0.022; sum 0.088
    (
        "llama3.1-8b-eu-profile",
        "bedrock",
        "eu.meta.llama3-1-8b-instruct-v1:0",
        {"input_tokens": 300_000, "output_tokens": 100_000},
        "0.088",
        {"input": "0.066", "output": "0.022"},
    ),
    # batch $0.00011 / $0.00011 per 1K = $0.11: 300,000 x 0.11/1M = 0.033;
    # 100,000 x 0.11/1M = 0.011; sum 0.044
    (
        "llama3.1-8b-batch",
        "bedrock",
        "meta.llama3-1-8b-instruct-v1:0",
        {"input_tokens": 300_000, "output_tokens": 100_000, "service_tier": "batch"},
        "0.044",
        {"input": "0.033", "output": "0.011"},
    ),
    # --- Llama 3.1 70B: $0.72 / $0.72, batch $0.36 / $0.36 ------------------------------
    # 10,000 x 0.72/1M = 0.0072; 2,000 x 0.72/1M = 0.00144; sum 0.00864
    (
        "llama3.1-70b-foundation-model-arn",
        "bedrock",
        FM_ARN + "meta.llama3-1-70b-instruct-v1:0",
        {"input_tokens": 10_000, "output_tokens": 2_000},
        "0.00864",
        {"input": "0.0072", "output": "0.00144"},
    ),
    # 10,000 x 0.36/1M = 0.0036; 2,000 x 0.36/1M = 0.00072; sum 0.00432
    (
        "llama3.1-70b-batch",
        "bedrock",
        "meta.llama3-1-70b-instruct-v1:0",
        {"input_tokens": 10_000, "output_tokens": 2_000, "service_tier": "batch"},
        "0.00432",
        {"input": "0.0036", "output": "0.00072"},
    ),
    # --- Llama 3: 8B $0.0003 / $0.0006 per 1K, 70B $0.00265 / $0.0035 per 1K ------------
    # 1,000,000 x 0.30/1M = 0.30; 1,000,000 x 0.60/1M = 0.60; sum 0.90
    (
        "llama3-8b",
        "bedrock",
        "meta.llama3-8b-instruct-v1:0",
        {"input_tokens": 1_000_000, "output_tokens": 1_000_000},
        "0.90",
        {"input": "0.30", "output": "0.60"},
    ),
    # 1,000 x 2.65/1M = 0.00265; 1,000 x 3.50/1M = 0.0035; sum 0.00615
    (
        "llama3-70b",
        "bedrock",
        "meta.llama3-70b-instruct-v1:0",
        {"input_tokens": 1_000, "output_tokens": 1_000},
        "0.00615",
        {"input": "0.00265", "output": "0.0035"},
    ),
    # --- Llama 3.2: 1B $0.10, 3B $0.15, 11B $0.16, 90B $0.72 (in = out) -----------------
    # 1,234,567 x 0.10/1M = 0.1234567; 7,654 x 0.10/1M = 0.0007654; sum 0.1242221
    (
        "llama3.2-1b-exact",
        "bedrock",
        "meta.llama3-2-1b-instruct-v1:0",
        {"input_tokens": 1_234_567, "output_tokens": 7_654},
        "0.1242221",
        {"input": "0.1234567", "output": "0.0007654"},
    ),
    # 2,000,000 x 0.15/1M = 0.30; 400,000 x 0.15/1M = 0.06; sum 0.36
    (
        "llama3.2-3b",
        "bedrock",
        "meta.llama3-2-3b-instruct-v1:0",
        {"input_tokens": 2_000_000, "output_tokens": 400_000},
        "0.36",
        {"input": "0.30", "output": "0.06"},
    ),
    # us. profile: 500,000 x 0.16/1M = 0.08; 50,000 x 0.16/1M = 0.008; sum 0.088
    (
        "llama3.2-11b-us-profile",
        "bedrock",
        "us.meta.llama3-2-11b-instruct-v1:0",
        {"input_tokens": 500_000, "output_tokens": 50_000},
        "0.088",
        {"input": "0.08", "output": "0.008"},
    ),
    # named with no provider (Bedrock's own id): 100,000 x 0.72/1M = 0.072;
    # 10,000 x 0.72/1M = 0.0072; sum 0.0792
    (
        "llama3.2-90b-bare-id",
        None,
        "meta.llama3-2-90b-instruct-v1:0",
        {"input_tokens": 100_000, "output_tokens": 10_000},
        "0.0792",
        {"input": "0.072", "output": "0.0072"},
    ),
]

CLAUDE_CASES: list[Case] = [
    # --- Claude Sonnet 5.5: regional (jp. profile) vs global, the same cached call -------
    # regional: in $2.20, read $0.22, write 5m $2.75, 1h $4.40, out $11.
    # 100,000 prompt = 40,000 uncached + 40,000 read + 20,000 written (5,000 of them 1h).
    # 40,000 x 2.2/1M = 0.088; 40,000 x 0.22/1M = 0.0088;
    # 15,000 x 2.75/1M = 0.04125 + 5,000 x 4.4/1M = 0.022 -> 0.06325; 10,000 x 11/1M = 0.11
    # sum 0.088 + 0.0088 + 0.06325 + 0.11 = 0.27005
    (
        "sonnet-5.5-jp-profile-cache",
        "bedrock",
        "jp.anthropic.claude-sonnet-5-5",
        {
            "input_tokens": 100_000,
            "cache_read_tokens": 40_000,
            "cache_write_tokens": 20_000,
            "cache_write_1h_tokens": 5_000,
            "output_tokens": 10_000,
        },
        "0.27005",
        {"input": "0.088", "cache_read": "0.0088", "cache_write": "0.06325", "output": "0.11"},
    ),
    # global: in $2, read $0.20, write 5m $2.50, 1h $4, out $10.
    # 40,000 x 2/1M = 0.08; 40,000 x 0.2/1M = 0.008;
    # 15,000 x 2.5/1M = 0.0375 + 5,000 x 4/1M = 0.02 -> 0.0575; 10,000 x 10/1M = 0.1
    # sum 0.2455 (x 1.1 = 0.27005, the regional figure)
    (
        "sonnet-5.5-global-cache",
        "bedrock",
        "global.anthropic.claude-sonnet-5-5",
        {
            "input_tokens": 100_000,
            "cache_read_tokens": 40_000,
            "cache_write_tokens": 20_000,
            "cache_write_1h_tokens": 5_000,
            "output_tokens": 10_000,
        },
        "0.2455",
        {"input": "0.08", "cache_read": "0.008", "cache_write": "0.0575", "output": "0.1"},
    ),
    # --- Claude Opus 5.5: a prompt read 90% from cache, global vs regional --------------
    # global in $4, read $0.20: 100,000 x 4/1M = 0.4; 900,000 x 0.2/1M = 0.18; sum 0.58
    (
        "opus-5.5-global-cache-read",
        "bedrock",
        "global.anthropic.claude-opus-5-5",
        {"input_tokens": 1_000_000, "cache_read_tokens": 900_000},
        "0.58",
        {"input": "0.4", "cache_read": "0.18", "output": "0"},
    ),
    # regional in $4.40, read $0.22: 100,000 x 4.4/1M = 0.44; 900,000 x 0.22/1M = 0.198;
    # sum 0.638
    (
        "opus-5.5-regional-cache-read",
        "bedrock",
        "anthropic.claude-opus-5-5",
        {"input_tokens": 1_000_000, "cache_read_tokens": 900_000},
        "0.638",
        {"input": "0.44", "cache_read": "0.198"},
    ),
    # --- Claude Opus 4.8 regional, through an inference-profile ARN: a prompt all written
    # to the 5-minute cache: 20,000 x 6.875/1M = 0.1375; 1,000 x 27.5/1M = 0.0275; sum 0.165
    (
        "opus-4.8-arn-cache-write",
        "bedrock",
        ARN + "us.anthropic.claude-opus-4-8",
        {"input_tokens": 20_000, "cache_write_tokens": 20_000, "output_tokens": 1_000},
        "0.165",
        {"input": "0", "cache_write": "0.1375", "output": "0.0275"},
    ),
    # --- Claude Opus 5 regional batch with a cache write: batch in $2.75, out $13.75; the
    # batch SKUs list no cache rate, so the on-demand 5-minute write $6.875 applies.
    # 90,000 x 2.75/1M = 0.2475; 10,000 x 6.875/1M = 0.06875; 10,000 x 13.75/1M = 0.1375
    # sum 0.45375
    (
        "opus-5-regional-batch-cache-write",
        "bedrock",
        "anthropic.claude-opus-5",
        {
            "input_tokens": 100_000,
            "cache_write_tokens": 10_000,
            "output_tokens": 10_000,
            "service_tier": "batch",
        },
        "0.45375",
        {"input": "0.2475", "cache_write": "0.06875", "output": "0.1375"},
    ),
]

CASES = LLAMA_CASES + CLAUDE_CASES


@each_case(CASES)
def test_hand_computed_cost(catalog: Catalog, case: Case) -> None:
    _, provider, model, usage, total, parts = case
    priced(catalog, provider, model, usage, total, parts)


def test_at_least_fifteen_distinct_cases() -> None:
    distinct_cases([case[0] for case in CASES], 15)


@pytest.mark.parametrize(
    ("provider", "model", "model_id"),
    [
        ("bedrock", "meta.llama3-3-70b-instruct-v1:0", "meta.llama3-3-70b-instruct-v1:0"),
        ("bedrock", "us.meta.llama3-3-70b-instruct-v1:0", "meta.llama3-3-70b-instruct-v1:0"),
        ("bedrock", "apac.meta.llama3-2-3b-instruct-v1:0", "meta.llama3-2-3b-instruct-v1:0"),
        (
            "amazon-bedrock",
            "meta.llama4-scout-17b-instruct-v1",
            "meta.llama4-scout-17b-instruct-v1:0",
        ),
        (
            None,
            "us.meta.llama4-maverick-17b-instruct-v1:0",
            "meta.llama4-maverick-17b-instruct-v1:0",
        ),
        # Llama 3 is not Llama 3.1 or 3.3 with a suffix
        ("bedrock", "meta.llama3-70b-instruct-v1:0", "meta.llama3-70b-instruct-v1:0"),
        ("bedrock", "meta.llama3-1-70b-instruct-v1:0", "meta.llama3-1-70b-instruct-v1:0"),
        ("bedrock", "meta.llama3-2-1b-instruct-v1:0", "meta.llama3-2-1b-instruct-v1:0"),
    ],
)
def test_llama_names_resolve(
    catalog: Catalog, provider: str | None, model: str, model_id: str
) -> None:
    ref = catalog.lookup(provider, model)
    assert (ref.provider, ref.spec.id) == ("bedrock", model_id)


@pytest.mark.parametrize(
    "model",
    [
        "global.meta.llama3-3-70b-instruct-v1:0",  # no global-profile row for any Llama
        "meta.llama3-1-405b-instruct-v1:0",  # batch rows only in the capture
        "meta.llama2-70b-chat-v1",  # no on-demand row
    ],
)
def test_llama_prices_the_capture_lacks_are_not_guessed(catalog: Catalog, model: str) -> None:
    with pytest.raises(UnknownModelError):
        catalog.lookup("bedrock", model)


def test_no_batch_price_where_the_capture_has_no_batch_sku(catalog: Catalog) -> None:
    """Llama 3.2 has no *-batch usage type in the offer: a batch call is an error,
    not the on-demand price."""
    price = catalog.price_at("bedrock", "meta.llama3-2-1b-instruct-v1:0", NOW)
    with pytest.raises(PricingError, match="no batch price"):
        cost(Usage(input_tokens=1_000, output_tokens=1_000, service_tier="batch"), price)


@pytest.mark.parametrize(
    "model",
    [
        "meta.llama3-1-8b-instruct-v1:0",
        "meta.llama3-1-70b-instruct-v1:0",
        "meta.llama3-3-70b-instruct-v1:0",
        "meta.llama4-scout-17b-instruct-v1:0",
        "meta.llama4-maverick-17b-instruct-v1:0",
    ],
)
def test_llama_batch_is_half_of_on_demand(catalog: Catalog, model: str) -> None:
    """The offer's batch rows are exactly half its on-demand rows, input and output."""
    price = catalog.price_at("bedrock", model, NOW)
    standard_in = cost(Usage(input_tokens=1_000_000), price).total
    standard_out = cost(Usage(output_tokens=1_000_000), price).total
    batch_in = cost(Usage(input_tokens=1_000_000, service_tier="batch"), price).total
    batch_out = cost(Usage(output_tokens=1_000_000, service_tier="batch"), price).total
    assert (batch_in * 2, batch_out * 2) == (standard_in, standard_out)


def test_the_meta_file_names_only_bedrock_meta_ids() -> None:
    """bedrock_meta.yaml lists Bedrock's own `meta.` ids, so no vendor's bare name
    resolves to it, and it stays one provider with bedrock.yaml."""
    spec, _ = read_provider_file(DATA / "bedrock_meta.yaml")
    assert spec.provider == "bedrock"
    names = [name for model in spec.models for name in (model.id, *model.aliases)]
    assert names and all(n.startswith(("meta.", "us.meta.")) for n in names)
    assert all(m.prices[0].batch is None or m.prices[0].batch.discount is None for m in spec.models)
    assert len((DATA / "bedrock_meta.yaml").read_text("utf-8").splitlines()) < 600


def test_llama_has_no_cache_rate(catalog: Catalog) -> None:
    """No Llama row of the offer has a cache usage type: the entries set none."""
    price = catalog.price_at("bedrock", "meta.llama3-3-70b-instruct-v1:0", NOW)
    assert cost(Usage(input_tokens=1_000), price).total == Decimal("0.00072")  # 1,000 x 0.72/1M
    spec, _ = read_provider_file(DATA / "bedrock_meta.yaml")
    assert all(
        m.prices[0].cache_read is None and m.prices[0].cache_write is None for m in spec.models
    )
