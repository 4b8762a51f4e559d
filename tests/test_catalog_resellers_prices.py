"""Hand-computed costs for the resellers' per-token prices: Amazon Bedrock
(catalog/data/bedrock.yaml) and Azure OpenAI's Global, Data Zone and Regional
deployments (catalog/data/openai_azure*.yaml), and the names they answer to.

Every expected amount is worked by hand from the per-1M prices the price files
cite (the arithmetic is in the comment next to it), never by running the meter.

Bedrock: AWS Price List offer AmazonBedrockFoundationModels, us-east-1, version
20260930001912 (read from a capture; SKUs in bedrock.yaml's notes). ``global.``
model ids are the global price; ``anthropic.`` ids and the geographic profiles
(``us.``, ``eu.``, ``apac.`` ...) the regional one, which Anthropic's Bedrock
page states is global + 10% ("Global vs regional endpoints").

Azure: Azure Retail Prices API (serviceName 'Foundry Models', eastus / Global),
read from a capture of 2026-10-02; meterIds in the files' notes. Usage follows
the meter's convention: ``input_tokens`` counts every prompt token, cache reads
and writes included; ``output_tokens`` counts every output token.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

import llmtally.catalog
from catalog_cases import NOW, distinct_cases, each_case, priced
from llmtally.catalog import Catalog, UnknownModelError
from llmtally.catalog.loader import read_provider_file
from llmtally.meter import cost
from llmtally.usage import Usage

DATA = Path(llmtally.catalog.__file__).parent / "data"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


# (id, provider, model, usage, total, parts)
Case = tuple[str, str | None, str, dict[str, object], str, dict[str, str]]

CASES: list[Case] = [
    # --- Amazon Bedrock, Claude Opus 4.7: global vs regional, same usage ---------------
    # global SKUs K6ATJXAP2KRY4E8C ...: $5 in / $25 out.
    # 100,000 x 5/1M = 0.5; 10,000 x 25/1M = 0.25; sum 0.75
    (
        "bedrock-opus-4.7-global",
        "bedrock",
        "global.anthropic.claude-opus-4-7",
        {"input_tokens": 100_000, "output_tokens": 10_000},
        "0.75",
        {"input": "0.5", "output": "0.25"},
    ),
    # regional (us. geographic profile, in-Region price) SKUs QHHV2AA3GM647WBC ...:
    # $5.50 / $27.50. 100,000 x 5.5/1M = 0.55; 10,000 x 27.5/1M = 0.275; sum 0.825 = 0.75 x 1.1
    (
        "bedrock-opus-4.7-us-profile",
        "bedrock",
        "us.anthropic.claude-opus-4-7",
        {"input_tokens": 100_000, "output_tokens": 10_000},
        "0.825",
        {"input": "0.55", "output": "0.275"},
    ),
    # the in-Region model id is the same regional price: 0.55 + 0.275 = 0.825
    (
        "bedrock-opus-4.7-in-region",
        "bedrock",
        "anthropic.claude-opus-4-7",
        {"input_tokens": 100_000, "output_tokens": 10_000},
        "0.825",
        {"input": "0.55", "output": "0.275"},
    ),
    # global cache: read $0.50, 5-minute write $6.25, 1-hour write $10.
    # 50,000 prompt = 10,000 uncached + 30,000 read + 10,000 written (4,000 of them 1h).
    # 10,000 x 5/1M = 0.05; 30,000 x 0.5/1M = 0.015;
    # 6,000 x 6.25/1M = 0.0375 + 4,000 x 10/1M = 0.04 -> 0.0775; 2,000 x 25/1M = 0.05
    # sum 0.05 + 0.015 + 0.0775 + 0.05 = 0.1925
    (
        "bedrock-opus-4.7-global-cache",
        "bedrock",
        "global.anthropic.claude-opus-4-7",
        {
            "input_tokens": 50_000,
            "cache_read_tokens": 30_000,
            "cache_write_tokens": 10_000,
            "cache_write_1h_tokens": 4_000,
            "output_tokens": 2_000,
        },
        "0.1925",
        {"input": "0.05", "cache_read": "0.015", "cache_write": "0.0775", "output": "0.05"},
    ),
    # regional cache (eu. profile): read $0.55, 5m write $6.875, 1h write $11.
    # 10,000 x 5.5/1M = 0.055; 30,000 x 0.55/1M = 0.0165;
    # 6,000 x 6.875/1M = 0.04125 + 4,000 x 11/1M = 0.044 -> 0.08525; 2,000 x 27.5/1M = 0.055
    # sum 0.055 + 0.0165 + 0.08525 + 0.055 = 0.21175 = 0.1925 x 1.1
    (
        "bedrock-opus-4.7-eu-profile-cache",
        "bedrock",
        "eu.anthropic.claude-opus-4-7",
        {
            "input_tokens": 50_000,
            "cache_read_tokens": 30_000,
            "cache_write_tokens": 10_000,
            "cache_write_1h_tokens": 4_000,
            "output_tokens": 2_000,
        },
        "0.21175",
        {"input": "0.055", "cache_read": "0.0165", "cache_write": "0.08525", "output": "0.055"},
    ),
    # --- Bedrock, Claude Opus 5: batch (SKUs RGSZ8DF5NB8ZUT8D, JQZVTEVSX3ECK3N5 global;
    # MWE9PKX7F5D2SQYY, XXRG79PMAKM99H3Y regional) ---------------------------------------
    # on-demand global $5 / $25: 200,000 x 5/1M = 1.0; 20,000 x 25/1M = 0.5; sum 1.5
    (
        "bedrock-opus-5-global-on-demand",
        "bedrock",
        "global.anthropic.claude-opus-5",
        {"input_tokens": 200_000, "output_tokens": 20_000},
        "1.5",
        {"input": "1.0", "output": "0.5"},
    ),
    # global batch $2.50 / $12.50: 200,000 x 2.5/1M = 0.5; 20,000 x 12.5/1M = 0.25; sum 0.75
    (
        "bedrock-opus-5-global-batch",
        "bedrock",
        "global.anthropic.claude-opus-5",
        {"input_tokens": 200_000, "output_tokens": 20_000, "service_tier": "batch"},
        "0.75",
        {"input": "0.5", "output": "0.25"},
    ),
    # regional batch $2.75 / $13.75 (us. profile, versioned id as Converse sends it):
    # 200,000 x 2.75/1M = 0.55; 20,000 x 13.75/1M = 0.275; sum 0.825
    (
        "bedrock-opus-5-us-profile-batch",
        "bedrock",
        "us.anthropic.claude-opus-5-v1:0",
        {"input_tokens": 200_000, "output_tokens": 20_000, "service_tier": "batch"},
        "0.825",
        {"input": "0.55", "output": "0.275"},
    ),
    # batch SKUs list no cache rate, so the on-demand global read rate $0.50 applies:
    # 60,000 uncached x 2.5/1M = 0.15; 40,000 x 0.5/1M = 0.02; 1,000 x 12.5/1M = 0.0125
    # sum 0.1825
    (
        "bedrock-opus-5-global-batch-cache-read",
        "bedrock",
        "global.anthropic.claude-opus-5",
        {
            "input_tokens": 100_000,
            "cache_read_tokens": 40_000,
            "output_tokens": 1_000,
            "service_tier": "batch",
        },
        "0.1825",
        {"input": "0.15", "cache_read": "0.02", "output": "0.0125"},
    ),
    # --- Bedrock, Claude Opus 5.5 ---------------------------------------------------------
    # global SKUs KVG5FBPDJPKF5TJY ...: $4 / $20. 1,000,000 x 4/1M = 4; 100,000 x 20/1M = 2
    (
        "bedrock-opus-5.5-global",
        "bedrock",
        "global.anthropic.claude-opus-5-5",
        {"input_tokens": 1_000_000, "output_tokens": 100_000},
        "6",
        {"input": "4", "output": "2"},
    ),
    # regional SKUs J9QFZT8WAQABG9ZX ...: $4.40 / $22, named by foundation-model ARN:
    # 1,000,000 x 4.4/1M = 4.4; 100,000 x 22/1M = 2.2; sum 6.6 = 6 x 1.1
    (
        "bedrock-opus-5.5-foundation-model-arn",
        "bedrock",
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-opus-5-5",
        {"input_tokens": 1_000_000, "output_tokens": 100_000},
        "6.6",
        {"input": "4.4", "output": "2.2"},
    ),
    # --- Bedrock, Claude Sonnet 5.5 and Sonnet 5 -------------------------------------------
    # global SKUs PXMCKMF8EGSRB3GB ...: $2 / $10, named "bedrock/<id>" with no provider:
    # 10,000 x 2/1M = 0.02; 5,000 x 10/1M = 0.05; sum 0.07
    (
        "bedrock-sonnet-5.5-global-prefixed",
        None,
        "bedrock/global.anthropic.claude-sonnet-5-5",
        {"input_tokens": 10_000, "output_tokens": 5_000},
        "0.07",
        {"input": "0.02", "output": "0.05"},
    ),
    # regional SKUs 6TG78WT6WYJUVS72 ...: $2.20 / $11 (apac. profile):
    # 10,000 x 2.2/1M = 0.022; 5,000 x 11/1M = 0.055; sum 0.077
    (
        "bedrock-sonnet-5.5-apac-profile",
        "bedrock",
        "apac.anthropic.claude-sonnet-5-5",
        {"input_tokens": 10_000, "output_tokens": 5_000},
        "0.077",
        {"input": "0.022", "output": "0.055"},
    ),
    # Sonnet 5 global 1-hour cache write $4: 20,000 x 4/1M = 0.08
    (
        "bedrock-sonnet-5-global-1h-write",
        "bedrock",
        "global.anthropic.claude-sonnet-5",
        {"input_tokens": 20_000, "cache_write_tokens": 20_000, "cache_write_1h_tokens": 20_000},
        "0.08",
        {"input": "0", "cache_write": "0.08"},
    ),
    # Sonnet 5 regional 1-hour cache write $4.40: 20,000 x 4.4/1M = 0.088
    (
        "bedrock-sonnet-5-regional-1h-write",
        "aws-bedrock",
        "anthropic.claude-sonnet-5-v1:0",
        {"input_tokens": 20_000, "cache_write_tokens": 20_000, "cache_write_1h_tokens": 20_000},
        "0.088",
        {"input": "0", "cache_write": "0.088"},
    ),
    # Sonnet 5 regional cache read $0.22, whole prompt read: 100,000 x 0.22/1M = 0.022
    (
        "bedrock-sonnet-5-us-profile-all-read",
        "bedrock",
        "us.anthropic.claude-sonnet-5",
        {"input_tokens": 100_000, "cache_read_tokens": 100_000},
        "0.022",
        {"input": "0", "cache_read": "0.022"},
    ),
    # --- Azure OpenAI, GPT-4.1: Global vs Data Zone vs Regional, same usage --------------
    # Global 'gpt 4.1 Inp glbl' $0.002/1K = $2/1M, 'gpt 4.1 Outp glbl' $0.008/1K = $8/1M:
    # 100,000 x 2/1M = 0.2; 10,000 x 8/1M = 0.08; sum 0.28
    (
        "azure-gpt-4.1-global",
        "azure",
        "gpt-4.1",
        {"input_tokens": 100_000, "output_tokens": 10_000},
        "0.28",
        {"input": "0.2", "output": "0.08"},
    ),
    # Data Zone 'gpt 4.1 Inp Data Zone' $2.20/1M, 'Outp Data Zone' $8.80/1M:
    # 100,000 x 2.2/1M = 0.22; 10,000 x 8.8/1M = 0.088; sum 0.308
    (
        "azure-gpt-4.1-datazone",
        "azure-datazone",
        "gpt-4.1",
        {"input_tokens": 100_000, "output_tokens": 10_000},
        "0.308",
        {"input": "0.22", "output": "0.088"},
    ),
    # Regional 'gpt 4.1 Inp regnl' $2.20/1M, 'Outp regnl' $8.80/1M, dated name Azure reports:
    # 100,000 x 2.2/1M = 0.22; 10,000 x 8.8/1M = 0.088; sum 0.308
    (
        "azure-gpt-4.1-regional-dated",
        "azure-regional",
        "gpt-4.1-2025-04-14",
        {"input_tokens": 100_000, "output_tokens": 10_000},
        "0.308",
        {"input": "0.22", "output": "0.088"},
    ),
    # Global cached $0.50/1M: 20,000 x 2/1M = 0.04; 80,000 x 0.5/1M = 0.04;
    # 1,000 x 8/1M = 0.008; sum 0.088
    (
        "azure-gpt-4.1-global-cached",
        "azure",
        "gpt-4.1",
        {"input_tokens": 100_000, "cache_read_tokens": 80_000, "output_tokens": 1_000},
        "0.088",
        {"input": "0.04", "cache_read": "0.04", "output": "0.008"},
    ),
    # Data Zone cached 'gpt 4.1 cached Inp Data Zone' $0.55/1M: 20,000 x 2.2/1M = 0.044;
    # 80,000 x 0.55/1M = 0.044; 1,000 x 8.8/1M = 0.0088; sum 0.0968
    (
        "azure-gpt-4.1-datazone-cached",
        "azure-datazone",
        "gpt-4.1",
        {"input_tokens": 100_000, "cache_read_tokens": 80_000, "output_tokens": 1_000},
        "0.0968",
        {"input": "0.044", "cache_read": "0.044", "output": "0.0088"},
    ),
    # --- Azure, GPT-5 batch: Global Batch vs Data Zone Batch -------------------------------
    # 'GPT 5 Batch Inpt Glbl' $0.625, 'Batch Inpt cchd Glbl' $0.0625, 'Batch outpt Glbl' $5:
    # 800,000 x 0.625/1M = 0.5; 200,000 x 0.0625/1M = 0.0125; 100,000 x 5/1M = 0.5
    # sum 1.0125
    (
        "azure-gpt-5-global-batch",
        "azure",
        "gpt-5",
        {
            "input_tokens": 1_000_000,
            "cache_read_tokens": 200_000,
            "output_tokens": 100_000,
            "service_tier": "batch",
        },
        "1.0125",
        {"input": "0.5", "cache_read": "0.0125", "output": "0.5"},
    ),
    # 'GPT 5 Batch Inpt DZone' $0.6875, 'Batch Inpt cchd Dzone' $0.06875, 'Batch outpt DZone'
    # $5.50: 800,000 x 0.6875/1M = 0.55; 200,000 x 0.06875/1M = 0.01375;
    # 100,000 x 5.5/1M = 0.55; sum 1.11375
    (
        "azure-gpt-5-datazone-batch",
        "azure-datazone",
        "gpt-5-2025-08-07",
        {
            "input_tokens": 1_000_000,
            "cache_read_tokens": 200_000,
            "output_tokens": 100_000,
            "service_tier": "batch",
        },
        "1.11375",
        {"input": "0.55", "cache_read": "0.01375", "output": "0.55"},
    ),
    # --- Azure, smaller models ---------------------------------------------------------------
    # GPT-5 mini Data Zone $0.275 / $2.20: 1,000,000 x 0.275/1M = 0.275;
    # 1,000,000 x 2.2/1M = 2.2; sum 2.475
    (
        "azure-gpt-5-mini-datazone",
        "azure-datazone",
        "gpt-5-mini-2025-08-07",
        {"input_tokens": 1_000_000, "output_tokens": 1_000_000},
        "2.475",
        {"input": "0.275", "output": "2.2"},
    ),
    # GPT-5 nano Global $0.05 / cached $0.005 / $0.40, named "azure/<model>":
    # 500,000 x 0.05/1M = 0.025; 500,000 x 0.005/1M = 0.0025; 200,000 x 0.4/1M = 0.08
    # sum 0.1075
    (
        "azure-gpt-5-nano-global-prefixed",
        None,
        "azure/gpt-5-nano",
        {"input_tokens": 1_000_000, "cache_read_tokens": 500_000, "output_tokens": 200_000},
        "0.1075",
        {"input": "0.025", "cache_read": "0.0025", "output": "0.08"},
    ),
    # GPT-4o 2024-11-20 Global $0.0025/1K = $2.50, cached $1.25, out $0.01/1K = $10:
    # 5,000 x 2.5/1M = 0.0125; 5,000 x 1.25/1M = 0.00625; 2,000 x 10/1M = 0.02; sum 0.03875
    (
        "azure-gpt-4o-1120-global",
        "azure",
        "gpt-4o-2024-11-20",
        {"input_tokens": 10_000, "cache_read_tokens": 5_000, "output_tokens": 2_000},
        "0.03875",
        {"input": "0.0125", "cache_read": "0.00625", "output": "0.02"},
    ),
    # Regional $2.75, cached $1.375, out $11: 5,000 x 2.75/1M = 0.01375;
    # 5,000 x 1.375/1M = 0.006875; 2,000 x 11/1M = 0.022; sum 0.042625
    (
        "azure-gpt-4o-1120-regional",
        "azure-regional",
        "gpt-4o-2024-11-20",
        {"input_tokens": 10_000, "cache_read_tokens": 5_000, "output_tokens": 2_000},
        "0.042625",
        {"input": "0.01375", "cache_read": "0.006875", "output": "0.022"},
    ),
    # GPT-4o mini Data Zone $0.000165/1K = $0.165, out $0.00066/1K = $0.66:
    # 1,000,000 x 0.165/1M = 0.165; 1,000,000 x 0.66/1M = 0.66; sum 0.825
    (
        "azure-gpt-4o-mini-datazone",
        "azure-datazone",
        "gpt-4o-mini-2024-07-18",
        {"input_tokens": 1_000_000, "output_tokens": 1_000_000},
        "0.825",
        {"input": "0.165", "output": "0.66"},
    ),
    # GPT-4.1 nano Regional cached $0.000028/1K = $0.028: 1,000,000 x 0.028/1M = 0.028
    (
        "azure-gpt-4.1-nano-regional-all-cached",
        "azure-regional",
        "gpt-4.1-nano",
        {"input_tokens": 1_000_000, "cache_read_tokens": 1_000_000},
        "0.028",
        {"input": "0", "cache_read": "0.028"},
    ),
    # GPT-4.1 mini Data Zone Batch $0.00022/1K = $0.22, out $0.00088/1K = $0.88:
    # 1,000,000 x 0.22/1M = 0.22; 1,000,000 x 0.88/1M = 0.88; sum 1.1
    (
        "azure-gpt-4.1-mini-datazone-batch",
        "azure-datazone",
        "gpt-4.1-mini",
        {"input_tokens": 1_000_000, "output_tokens": 1_000_000, "service_tier": "batch"},
        "1.1",
        {"input": "0.22", "output": "0.88"},
    ),
]


@each_case(CASES)
def test_hand_computed_cost(catalog: Catalog, case: Case) -> None:
    _, provider, model, usage, total, parts = case
    priced(catalog, provider, model, usage, total, parts)


def test_at_least_twenty_distinct_cases() -> None:
    distinct_cases([case[0] for case in CASES], 20)


@pytest.mark.parametrize(
    ("provider", "model", "provider_id", "model_id"),
    [
        # what the gateway records for a Converse call: the modelId of the path, decoded
        ("bedrock", "anthropic.claude-opus-5-v1:0", "bedrock", "anthropic.claude-opus-5"),
        ("bedrock", "us.anthropic.claude-opus-4-8", "bedrock", "anthropic.claude-opus-4-8"),
        ("bedrock", "jp.anthropic.claude-sonnet-5-5", "bedrock", "anthropic.claude-sonnet-5-5"),
        (
            "bedrock",
            "global.anthropic.claude-opus-4-8",
            "bedrock",
            "global.anthropic.claude-opus-4-8",
        ),
        (
            "bedrock",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.anthropic.claude-sonnet-5",
            "bedrock",
            "global.anthropic.claude-sonnet-5",
        ),
        # Opus 5.5 is not Opus 5 with a version suffix
        ("bedrock", "anthropic.claude-opus-5-5", "bedrock", "anthropic.claude-opus-5-5"),
        ("amazon-bedrock", "au.anthropic.claude-opus-5", "bedrock", "anthropic.claude-opus-5"),
        # Bedrock's own ids need no provider
        (None, "global.anthropic.claude-opus-4-7", "bedrock", "global.anthropic.claude-opus-4-7"),
        (None, "us.anthropic.claude-sonnet-5", "bedrock", "anthropic.claude-sonnet-5"),
        # Azure: provider ids and their aliases
        ("azure-openai", "gpt-4.1-mini", "azure", "gpt-4.1-mini-2025-04-14"),
        ("azure-data-zone", "gpt-5-nano-2025-08-07", "azure-datazone", "gpt-5-nano-2025-08-07"),
        ("azure-standard", "gpt-4.1-mini-2025-04-14", "azure-regional", "gpt-4.1-mini-2025-04-14"),
        # the vendor keeps the bare names the reseller files also list
        (None, "gpt-4.1", "openai", "gpt-4.1"),
        (None, "gpt-5-mini-2025-08-07", "openai", "gpt-5-mini"),
        (None, "gpt-4o-2024-11-20", "openai", "gpt-4o-2024-08-06"),
        (None, "claude-opus-4-7", "anthropic", "claude-opus-4-7"),
        # "azure_openai" stays OpenAI's alias (OpenAI's list prices), as before
        ("azure_openai", "gpt-4.1", "openai", "gpt-4.1"),
    ],
)
def test_names_resolve(
    catalog: Catalog, provider: str | None, model: str, provider_id: str, model_id: str
) -> None:
    ref = catalog.lookup(provider, model)
    assert (ref.provider, ref.spec.id) == (provider_id, model_id)


VENDOR_FILES = {"anthropic": "anthropic.yaml", "openai": "openai.yaml", "google": "google.yaml"}


@pytest.mark.parametrize("vendor", sorted(VENDOR_FILES))
def test_every_bare_vendor_name_still_resolves_to_the_vendor(catalog: Catalog, vendor: str) -> None:
    """The builtin layer resolves a name without a provider to the first price file
    (in file-name order) that lists it; bedrock.yaml sorts before openai.yaml and the
    Azure files list OpenAI's names, so none may take a vendor's name."""
    spec, _ = read_provider_file(DATA / VENDOR_FILES[vendor])
    names = [name for model in spec.models for name in (model.id, *model.aliases)]
    assert names
    wrong = {
        name: (ref.provider, ref.spec.id)
        for name in names
        if (ref := catalog.lookup(None, name)).provider != vendor
    }
    assert wrong == {}


def test_reseller_files_name_no_bare_vendor_model_first() -> None:
    """Each reseller file sorts after the vendor file whose names it repeats."""
    files = sorted(path.name for path in DATA.glob("*.yaml"))
    for reseller in (
        "openai_azure.yaml",
        "openai_azure_datazone.yaml",
        "openai_azure_regional.yaml",
    ):
        assert files.index("openai.yaml") < files.index(reseller)
    bedrock, _ = read_provider_file(DATA / "bedrock.yaml")
    ids = {name for model in bedrock.models for name in (model.id, *model.aliases)}
    assert all(".anthropic.claude-" in name or name.startswith("anthropic.") for name in ids)


@pytest.mark.parametrize(
    "model",
    [
        "claude-opus-4-7",
        "claude-opus-4-8",
        "claude-opus-5",
        "claude-opus-5-5",
        "claude-sonnet-5",
        "claude-sonnet-5-5",
    ],
)
def test_bedrock_regional_is_global_plus_ten_percent(catalog: Catalog, model: str) -> None:
    """Anthropic: regional endpoints carry a 10% premium over global; the offer file's
    absolute prices bear it out, rate by rate, batch (Opus 5's) included."""
    regional = catalog.price_at("bedrock", f"anthropic.{model}", NOW)
    global_ = catalog.price_at("bedrock", f"global.anthropic.{model}", NOW)
    assert set(regional.tiers) == set(global_.tiers)
    for tier in ("standard", *sorted(regional.tiers)):
        usage = Usage(
            input_tokens=1_000_000,
            cache_read_tokens=200_000,
            cache_write_tokens=300_000,
            cache_write_1h_tokens=100_000,
            output_tokens=1_000_000,
            service_tier=tier,
        )
        assert cost(usage, regional).total == cost(usage, global_).total * Decimal("1.1")


def test_azure_names_no_model_it_has_no_meter_for(catalog: Catalog) -> None:
    """GPT-5 has no Regional meter in the capture: no price, rather than OpenAI's."""
    with pytest.raises(UnknownModelError):
        catalog.lookup("azure-regional", "gpt-5")
    with pytest.raises(UnknownModelError):
        catalog.lookup("azure", "gpt-4o")  # undated gpt-4o: which version is not known


def test_a_typo_suggests_the_vendor_first(catalog: Catalog) -> None:
    """The undated Azure names are rules, so "nearest known" keeps OpenAI's names
    (suggestions list owners of one name alphabetically: azure before openai)."""
    assert catalog.index.near(None, "gpt-5o")[0] == "openai/gpt-5"
    assert catalog.index.near(None, "gpt-4.1-mni")[0] == "openai/gpt-4.1-mini"
