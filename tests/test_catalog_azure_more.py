"""Hand-computed costs for the Azure OpenAI models added beside GPT-4.1 / GPT-5 / GPT-4o
(catalog/data/openai_azure.yaml, openai_azure_datazone.yaml, openai_azure_regional.yaml):
the o-series, GPT-5.1 / 5.2 / 5.4 (mini, nano), the embeddings, the transcription and
speech models, gpt-image-1 and GPT-4o mini's batch and Regional prices.

Source of every rate: Microsoft's Azure Retail Prices API
(https://learn.microsoft.com/en-us/rest/api/cost-management/retail-prices/azure-retail-prices),
serviceName 'Foundry Models', eastus / Global, read from a capture of 2026-10-02 (the files'
headers; each entry's note names its meters). "1K" meters are per 1,000 tokens, so
$0.002 per 1K = $2.00 per 1M. Every expected amount below is worked by hand from those
per-1M prices (the arithmetic is in the comment next to it), never by running the meter.

Usage follows the meter's convention: ``input_tokens`` counts every prompt token (cache
reads, audio and image tokens included); ``output_tokens`` counts every output token
(reasoning, audio and image tokens included).
"""

from __future__ import annotations

import re
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
AZURE_FILES = ("openai_azure.yaml", "openai_azure_datazone.yaml", "openai_azure_regional.yaml")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


# (id, provider, model, usage, total, parts)
Case = tuple[str, str | None, str, dict[str, object], str, dict[str, str]]

CASES: list[Case] = [
    # --- o3 (2025-04-16): reasoning tokens are output tokens ------------------------------
    # Global $2.00 in / $8.00 out. 10,000 x 2/1M = 0.02; 5,000 output of which 4,000
    # reasoning: 1,000 x 8/1M = 0.008 answer + 4,000 x 8/1M = 0.032 reasoning; sum 0.06
    (
        "global-o3-reasoning-billed-as-output",
        "azure",
        "o3-2025-04-16",
        {"input_tokens": 10_000, "output_tokens": 5_000, "reasoning_tokens": 4_000},
        "0.06",
        {"input": "0.02", "output": "0.008", "reasoning": "0.032"},
    ),
    # Global cached input $0.50: 100,000 prompt = 40,000 uncached + 60,000 read.
    # 40,000 x 2/1M = 0.08; 60,000 x 0.5/1M = 0.03; 2,000 x 8/1M = 0.016; sum 0.126
    (
        "global-o3-cached-input",
        "azure",
        "o3",
        {"input_tokens": 100_000, "cache_read_tokens": 60_000, "output_tokens": 2_000},
        "0.126",
        {"input": "0.08", "cache_read": "0.03", "output": "0.016"},
    ),
    # Regional $2.20 / $0.55 cached / $8.80, same usage:
    # 40,000 x 2.2/1M = 0.088; 60,000 x 0.55/1M = 0.033; 2,000 x 8.8/1M = 0.0176;
    # sum 0.1386 = 0.126 x 1.1
    (
        "regional-o3-cached-input",
        "azure-regional",
        "o3",
        {"input_tokens": 100_000, "cache_read_tokens": 60_000, "output_tokens": 2_000},
        "0.1386",
        {"input": "0.088", "cache_read": "0.033", "output": "0.0176"},
    ),
    # Global Batch $1.00 / $4.00: 200,000 x 1/1M = 0.2; 50,000 x 4/1M = 0.2; sum 0.4
    (
        "global-o3-batch",
        "azure",
        "o3",
        {"input_tokens": 200_000, "output_tokens": 50_000, "service_tier": "batch"},
        "0.4",
        {"input": "0.2", "output": "0.2"},
    ),
    # Data Zone Batch $1.10 / $4.40: 200,000 x 1.1/1M = 0.22; 50,000 x 4.4/1M = 0.22;
    # sum 0.44 = 0.4 x 1.1
    (
        "datazone-o3-batch",
        "azure-datazone",
        "o3-2025-04-16",
        {"input_tokens": 200_000, "output_tokens": 50_000, "service_tier": "batch"},
        "0.44",
        {"input": "0.22", "output": "0.22"},
    ),
    # --- o1 (2024-12-17) Global Batch $7.50 / $30.00, reasoning at the batch output rate ---
    # 10,000 x 7.5/1M = 0.075; 20,000 output, 15,000 of it reasoning:
    # 5,000 x 30/1M = 0.15 + 15,000 x 30/1M = 0.45; sum 0.675
    (
        "global-o1-batch-reasoning",
        "azure",
        "o1",
        {
            "input_tokens": 10_000,
            "output_tokens": 20_000,
            "reasoning_tokens": 15_000,
            "service_tier": "batch",
        },
        "0.675",
        {"input": "0.075", "output": "0.15", "reasoning": "0.45"},
    ),
    # --- o4-mini: Microsoft's rounding of the x1.1 cached rate ------------------------------
    # Global cached $0.275 x 1.1 = 0.3025; the Data Zone meter says $0.000303 per 1K = $0.303.
    # 1,000,000 cached x 0.303/1M = 0.303
    (
        "datazone-o4-mini-cached-rounded",
        "azure-datazone",
        "o4-mini",
        {"input_tokens": 1_000_000, "cache_read_tokens": 1_000_000, "output_tokens": 0},
        "0.303",
        {"input": "0", "cache_read": "0.303"},
    ),
    # --- o3-mini Regional $1.21 / $4.84: 1,000 x 1.21/1M = 0.00121;
    # 1,000 x 4.84/1M = 0.00484; sum 0.00605
    (
        "regional-o3-mini",
        "azure-regional",
        "o3-mini-2025-01-31",
        {"input_tokens": 1_000, "output_tokens": 1_000},
        "0.00605",
        {"input": "0.00121", "output": "0.00484"},
    ),
    # --- o1-mini Data Zone Batch $0.605 / $2.42: 100,000 x 0.605/1M = 0.0605;
    # 100,000 x 2.42/1M = 0.242; sum 0.3025
    (
        "datazone-o1-mini-batch",
        "azure-datazone",
        "o1-mini",
        {"input_tokens": 100_000, "output_tokens": 100_000, "service_tier": "batch"},
        "0.3025",
        {"input": "0.0605", "output": "0.242"},
    ),
    # --- GPT-5.1: the undated deployment name and the dated response name -----------------
    # Global $1.25 / $0.125 cached / $10.00. 80,000 x 1.25/1M = 0.1; 20,000 x 0.125/1M =
    # 0.0025; 10,000 output, 8,000 reasoning: 2,000 x 10/1M = 0.02 + 8,000 x 10/1M = 0.08;
    # sum 0.2025
    (
        "global-gpt-5.1-cached-reasoning",
        "azure",
        "gpt-5.1",
        {
            "input_tokens": 100_000,
            "cache_read_tokens": 20_000,
            "output_tokens": 10_000,
            "reasoning_tokens": 8_000,
        },
        "0.2025",
        {"input": "0.1", "cache_read": "0.0025", "output": "0.02", "reasoning": "0.08"},
    ),
    # Data Zone Batch $0.6875 / cached $0.06875 / $5.50:
    # 80,000 x 0.6875/1M = 0.055; 20,000 x 0.06875/1M = 0.001375; 10,000 x 5.5/1M = 0.055;
    # sum 0.111375
    (
        "datazone-gpt-5.1-batch-cached",
        "azure-datazone",
        "gpt-5.1-2025-11-13",
        {
            "input_tokens": 100_000,
            "cache_read_tokens": 20_000,
            "output_tokens": 10_000,
            "service_tier": "batch",
        },
        "0.111375",
        {"input": "0.055", "cache_read": "0.001375", "output": "0.055"},
    ),
    # --- GPT-5.2 Global Batch $0.875 / cached $0.0875 / $7.00:
    # 500,000 x 0.875/1M = 0.4375; 500,000 x 0.0875/1M = 0.04375; 100,000 x 7/1M = 0.7;
    # sum 1.18125
    (
        "global-gpt-5.2-batch-cached",
        "azure",
        "gpt-5.2-2025-12-11",
        {
            "input_tokens": 1_000_000,
            "cache_read_tokens": 500_000,
            "output_tokens": 100_000,
            "service_tier": "batch",
        },
        "1.18125",
        {"input": "0.4375", "cache_read": "0.04375", "output": "0.7"},
    ),
    # --- GPT-5.4: the long-context meters above 272,000 prompt tokens ----------------------
    # 272,000 is not above the cliff: $2.50 / $15.00. 272,000 x 2.5/1M = 0.68;
    # 1,000 x 15/1M = 0.015; sum 0.695
    (
        "global-gpt-5.4-at-the-cliff",
        "azure",
        "gpt-5.4",
        {"input_tokens": 272_000, "output_tokens": 1_000},
        "0.695",
        {"input": "0.68", "output": "0.015"},
    ),
    # 272,001 is: every token at "5.4 longco" $5.00 / $22.50. 272,001 x 5/1M = 1.360005;
    # 1,000 x 22.5/1M = 0.0225; sum 1.382505
    (
        "global-gpt-5.4-over-the-cliff",
        "azure",
        "gpt-5.4",
        {"input_tokens": 272_001, "output_tokens": 1_000},
        "1.382505",
        {"input": "1.360005", "output": "0.0225"},
    ),
    # Data Zone Batch over the cliff: longco batch $2.75 / cached $0.275 / $12.375.
    # 200,000 x 2.75/1M = 0.55; 100,000 x 0.275/1M = 0.0275; 10,000 x 12.375/1M = 0.12375;
    # sum 0.70125
    (
        "datazone-gpt-5.4-batch-over-the-cliff",
        "azure-datazone",
        "gpt-5.4-2026-03-05",
        {
            "input_tokens": 300_000,
            "cache_read_tokens": 100_000,
            "output_tokens": 10_000,
            "service_tier": "batch",
        },
        "0.70125",
        {"input": "0.55", "cache_read": "0.0275", "output": "0.12375"},
    ),
    # --- GPT-5.4 mini, Data Zone vs Global, same usage -------------------------------------
    # Global $0.75 / $4.50: 1,000,000 x 0.75/1M = 0.75; 100,000 x 4.5/1M = 0.45; sum 1.2
    (
        "global-gpt-5.4-mini",
        "azure",
        "gpt-5.4-mini",
        {"input_tokens": 1_000_000, "output_tokens": 100_000},
        "1.2",
        {"input": "0.75", "output": "0.45"},
    ),
    # Data Zone $0.825 / $4.95: 0.825 + 100,000 x 4.95/1M = 0.495; sum 1.32 = 1.2 x 1.1
    (
        "datazone-gpt-5.4-mini",
        "azure-datazone",
        "gpt-5.4-mini",
        {"input_tokens": 1_000_000, "output_tokens": 100_000},
        "1.32",
        {"input": "0.825", "output": "0.495"},
    ),
    # --- GPT-5.4 nano Global Batch $0.10 / cached $0.01 / $0.625:
    # 1,000,000 x 0.1/1M = 0.1; 1,000,000 x 0.01/1M = 0.01; 1,000,000 x 0.625/1M = 0.625;
    # sum 0.735
    (
        "global-gpt-5.4-nano-batch-cached",
        "azure",
        "gpt-5.4-nano-2026-03-17",
        {
            "input_tokens": 2_000_000,
            "cache_read_tokens": 1_000_000,
            "output_tokens": 1_000_000,
            "service_tier": "batch",
        },
        "0.735",
        {"input": "0.1", "cache_read": "0.01", "output": "0.625"},
    ),
    # --- embeddings (input only) -------------------------------------------------------------
    # Global text-embedding-3-small $0.00002 per 1K = $0.02/1M: 1,000,000 x 0.02/1M = 0.02
    (
        "global-text-embedding-3-small",
        "azure",
        "text-embedding-3-small",
        {"input_tokens": 1_000_000},
        "0.02",
        {"input": "0.02"},
    ),
    # Data Zone text-embedding-3-large $0.000143 per 1K = $0.143/1M:
    # 500,000 x 0.143/1M = 0.0715
    (
        "datazone-text-embedding-3-large",
        "azure-datazone",
        "text-embedding-3-large",
        {"input_tokens": 500_000},
        "0.0715",
        {"input": "0.0715"},
    ),
    # Regional ada-002 $0.00011 per 1K = $0.11/1M: 123,456 x 0.11/1M = 0.01358016
    (
        "regional-text-embedding-ada-002",
        "azure-regional",
        "text-embedding-ada-002",
        {"input_tokens": 123_456},
        "0.01358016",
        {"input": "0.01358016"},
    ),
    # --- transcription and speech, billed by token -------------------------------------------
    # Global gpt-4o-transcribe: text in $2.50, audio in $6.00, text out $10.00.
    # 1,000 prompt = 900 audio + 100 text: 100 x 2.5/1M = 0.00025; 900 x 6/1M = 0.0054;
    # 200 x 10/1M = 0.002; sum 0.00765
    (
        "global-gpt-4o-transcribe",
        "azure",
        "gpt-4o-transcribe",
        {"input_tokens": 1_000, "input_audio_tokens": 900, "output_tokens": 200},
        "0.00765",
        {"input": "0.00025", "audio": "0.0054", "output": "0.002"},
    ),
    # Data Zone gpt-4o-mini-transcribe, the 2025-12-15 version's name (its "1215" meters:
    # text in $1.375, audio in $3.30, text out $5.50). 1,000 x 1.375/1M = 0.001375;
    # 9,000 x 3.3/1M = 0.0297; 500 x 5.5/1M = 0.00275; sum 0.033825
    (
        "datazone-gpt-4o-mini-transcribe-1215",
        "azure-datazone",
        "gpt-4o-mini-transcribe-2025-12-15",
        {"input_tokens": 10_000, "input_audio_tokens": 9_000, "output_tokens": 500},
        "0.033825",
        {"input": "0.001375", "audio": "0.0297", "output": "0.00275"},
    ),
    # Regional gpt-4o-mini-tts: text in $0.66, audio out $13.20.
    # 1,000 x 0.66/1M = 0.00066; 10,000 x 13.2/1M = 0.132; sum 0.13266
    (
        "regional-gpt-4o-mini-tts",
        "azure-regional",
        "gpt-4o-mini-tts",
        {"input_tokens": 1_000, "output_tokens": 10_000, "output_audio_tokens": 10_000},
        "0.13266",
        {"input": "0.00066", "audio": "0.132"},
    ),
    # --- gpt-image-1 Global: text in $5, image in $10, image out $40 -------------------------
    # 500 x 5/1M = 0.0025 + 500 x 10/1M = 0.005 -> input 0.0075; 4,160 x 40/1M = 0.1664;
    # sum 0.1739
    (
        "global-gpt-image-1",
        "azure",
        "gpt-image-1",
        {
            "input_tokens": 1_000,
            "input_image_tokens": 500,
            "output_tokens": 4_160,
            "output_image_tokens": 4_160,
        },
        "0.1739",
        {"input": "0.0075", "images": "0.1664"},
    ),
    # --- GPT-4o mini: Global batch, Regional -------------------------------------------------
    # Global Batch $0.075 / $0.30: 1,000,000 x 0.075/1M = 0.075; 1,000,000 x 0.3/1M = 0.3;
    # sum 0.375
    (
        "global-gpt-4o-mini-batch",
        "azure",
        "gpt-4o-mini",
        {"input_tokens": 1_000_000, "output_tokens": 1_000_000, "service_tier": "batch"},
        "0.375",
        {"input": "0.075", "output": "0.3"},
    ),
    # Regional $0.165 / cached $0.083 / $0.66: 50,000 x 0.165/1M = 0.00825;
    # 50,000 x 0.083/1M = 0.00415; 10,000 x 0.66/1M = 0.0066; sum 0.019
    (
        "regional-gpt-4o-mini-cached",
        "azure-regional",
        "gpt-4o-mini-2024-07-18",
        {"input_tokens": 100_000, "cache_read_tokens": 50_000, "output_tokens": 10_000},
        "0.019",
        {"input": "0.00825", "cache_read": "0.00415", "output": "0.0066"},
    ),
]


@each_case(CASES)
def test_hand_computed_cost(catalog: Catalog, case: Case) -> None:
    _, provider, model, usage, total, parts = case
    priced(catalog, provider, model, usage, total, parts)


def test_at_least_fifteen_distinct_cases() -> None:
    distinct_cases([case[0] for case in CASES], 15)


@pytest.mark.parametrize(
    "model",
    [
        "o1",
        "o1-2024-12-17",
        "o1-mini",
        "o3",
        "o3-2025-04-16",
        "o3-mini",
        "o4-mini-2025-04-16",
        "gpt-5.1",
        "gpt-5.1-2025-11-13",
        "gpt-5.2-2025-12-11",
        "gpt-5.4-2026-03-05",
        "gpt-5.4-mini-2026-03-17",
        "text-embedding-3-small",
        "text-embedding-ada-002",
        "gpt-4o-transcribe-2025-03-20",
        "gpt-4o-mini-transcribe-2025-12-15",
        "gpt-4o-mini-tts",
        "gpt-image-1",
    ],
)
def test_a_bare_name_stays_openai_s(catalog: Catalog, model: str) -> None:
    """The Azure files list these models too; without a provider the name is OpenAI's."""
    assert catalog.lookup(None, model).provider == "openai"


@pytest.mark.parametrize(
    ("provider", "model", "provider_id", "model_id"),
    [
        ("azure-openai", "o3", "azure", "o3-2025-04-16"),
        ("azure-data-zone", "o4-mini-2025-04-16", "azure-datazone", "o4-mini-2025-04-16"),
        ("azure-standard", "o1", "azure-regional", "o1-2024-12-17"),
        ("azure", "gpt-5.1-2025-11-13", "azure", "gpt-5.1-2025-11-13-azure"),
        ("azure-datazone", "gpt-5.4-nano", "azure-datazone", "gpt-5.4-nano-2026-03-17-azure"),
        (
            "azure-regional",
            "text-embedding-3-large",
            "azure-regional",
            "text-embedding-3-large-azure",
        ),
        ("azure", "gpt-4o-mini-tts-2025-12-15", "azure", "gpt-4o-mini-tts-2025-03-20-azure"),
        ("azure-regional", "gpt-4o-mini", "azure-regional", "gpt-4o-mini-2024-07-18"),
    ],
)
def test_azure_names_resolve(
    catalog: Catalog, provider: str, model: str, provider_id: str, model_id: str
) -> None:
    ref = catalog.lookup(provider, model)
    assert (ref.provider, ref.spec.id) == (provider_id, model_id)


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("azure-regional", "gpt-5.1"),  # no Regional GPT-5.x meter in the capture
        ("azure-regional", "gpt-image-1"),  # no Regional gpt-image-1 meter
        ("azure-regional", "gpt-4o-mini-tts-2025-12-15"),  # its "1215" meters: Global, Data Zone
        ("azure", "gpt-5.1-chat"),  # metered in the capture, not read into the files
    ],
)
def test_no_price_where_the_capture_has_no_meter_read(
    catalog: Catalog, provider: str, model: str
) -> None:
    with pytest.raises(UnknownModelError):
        catalog.lookup(provider, model)


def test_no_data_zone_batch_for_gpt_4o_mini(catalog: Catalog) -> None:
    """Its Data Zone batch input meter is in the capture, its batch output meter is not:
    no batch price, rather than a half-known one."""
    price = catalog.price_at("azure-datazone", "gpt-4o-mini", NOW)
    with pytest.raises(PricingError, match="no batch price"):
        cost(Usage(input_tokens=1, output_tokens=1, service_tier="batch"), price)


# Rates that are not the Global rate x 1.1 exactly: Microsoft rounds to the meter's digits.
# (model id, rate) -> the meter's figure (Global rate x 1.1 in the comment)
ROUNDED = {
    ("gpt-4.1-nano-2025-04-14", "cache_read"): "0.028",  # 0.025 x 1.1 = 0.0275
    ("gpt-4o-mini-2024-07-18", "cache_read"): "0.083",  # 0.075 x 1.1 = 0.0825
    ("gpt-4o-mini-2024-07-18", "batch.input"): "0.083",  # 0.075 x 1.1 = 0.0825
    ("o4-mini-2025-04-16", "cache_read"): "0.303",  # 0.275 x 1.1 = 0.3025
}


def _rates(file: str) -> dict[tuple[str, str], Decimal]:
    """Every rate of one Azure file, as (model id, 'field' or 'tier.field' or
    'long_context.field' or 'batch.long_context.field')."""
    spec, _ = read_provider_file(DATA / file)
    out: dict[tuple[str, str], Decimal] = {}
    for model in spec.models:
        (price,) = model.prices
        parts = [("", price), ("batch.", price.batch)]
        parts += [("long_context.", c) for c in price.long_context]
        if price.batch is not None:
            parts += [("batch.long_context.", c) for c in price.batch.long_context]
        for prefix, rates in parts:
            for name, value in (rates.model_dump() if rates is not None else {}).items():
                if isinstance(value, Decimal) and name not in ("above", "output_above"):
                    out[(model.id, prefix + name)] = value
    return out


@pytest.mark.parametrize("file", ["openai_azure_datazone.yaml", "openai_azure_regional.yaml"])
def test_data_zone_and_regional_are_global_plus_ten_percent(file: str) -> None:
    """Every rate a Data Zone or Regional entry shares with its Global entry is the Global
    rate x 1.1, but for the rounded ones listed (checked rate by rate)."""
    global_, other = _rates("openai_azure.yaml"), _rates(file)
    shared = sorted(set(global_) & set(other))
    assert len(shared) >= 40  # Regional: 41 (14 models); Data Zone: more
    for key in shared:
        expected = Decimal(ROUNDED.get(key, global_[key] * Decimal("1.1")))
        assert other[key] == expected, key


@pytest.mark.parametrize("file", AZURE_FILES)
def test_every_price_names_a_meter_id_per_rate(file: str) -> None:
    """Each rate is read from one meter, and the note names it (its meterId, a UUID)."""
    spec, _ = read_provider_file(DATA / file)
    uuid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    counts = {m: 0 for m, _ in _rates(file)}
    for model_id, _ in _rates(file):
        counts[model_id] += 1
    for model in spec.models:
        note = model.prices[0].note or ""
        assert len(uuid.findall(note)) >= counts[model.id], model.id


@pytest.mark.parametrize("file", AZURE_FILES)
def test_files_stay_short(file: str) -> None:
    assert len((DATA / file).read_text(encoding="utf-8").splitlines()) < 600
