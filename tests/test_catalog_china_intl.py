"""Hand-computed costs for the international (USD) price lists of Alibaba Cloud
Model Studio, Moonshot AI (Kimi) and Z.ai, through ``Catalog.price_at`` and
``cost``, and the names ``llmtally prices`` finds for them.

Every expected amount is worked by hand from the per-1M prices of the page each
price file cites (the arithmetic is in the comment next to it), never by running
the meter. Cache hits are a subset of the prompt (``input_tokens``), as these
three vendors report them (``prompt_tokens_details.cached_tokens``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from catalog_cases import distinct_cases, each_case, priced, prices_cli, prices_json
from llmtally.catalog import Catalog, NoPriceError
from llmtally.meter import cost
from llmtally.usage import Usage


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


# (id, provider, model, usage, total, parts)
Case = tuple[str, str | None, str, dict[str, int], str, dict[str, str]]

CASES: list[Case] = [
    # --- Alibaba Cloud Model Studio, international (billing page, flagship table) ---
    # qwen-max $1.6 in / $6.4 out: 10,000 x 1.6/1M = 0.016; 2,000 x 6.4/1M = 0.0128
    (
        "qwen-max-plain",
        "alibaba",
        "qwen-max",
        {"input_tokens": 10_000, "output_tokens": 2_000},
        "0.0288",
        {"input": "0.016", "output": "0.0128"},
    ),
    # cache hits at 40% of input = $0.64: 12,000 x 1.6/1M = 0.0192;
    # 8,000 x 0.64/1M = 0.00512; 1,000 x 6.4/1M = 0.0064; sum 0.03072
    (
        "qwen-max-cache-hit",
        "alibaba",
        "qwen-max",
        {"input_tokens": 20_000, "cache_read_tokens": 8_000, "output_tokens": 1_000},
        "0.03072",
        {"input": "0.0192", "cache_read": "0.00512", "output": "0.0064"},
    ),
    # qwen-plus $0.4 / $1.2, one price up to its 131,072-token context:
    # 40,000 x 0.4/1M = 0.016; 1,000 x 1.2/1M = 0.0012
    (
        "qwen-plus-40k",
        "alibaba",
        "qwen-plus",
        {"input_tokens": 40_000, "output_tokens": 1_000},
        "0.0172",
        {"input": "0.016", "output": "0.0012"},
    ),
    # cache $0.16: 40,000 x 0.4/1M = 0.016; 60,000 x 0.16/1M = 0.0096; 500 x 1.2/1M = 0.0006
    (
        "qwen-plus-cache-hit",
        "dashscope",
        "qwen-plus",
        {"input_tokens": 100_000, "cache_read_tokens": 60_000, "output_tokens": 500},
        "0.0262",
        {"input": "0.016", "cache_read": "0.0096", "output": "0.0006"},
    ),
    # qwen-turbo $0.05 / $0.2: 1M x 0.05/1M = 0.05; 100,000 x 0.2/1M = 0.02
    (
        "qwen-turbo-1m",
        "alibaba",
        "qwen-turbo",
        {"input_tokens": 1_000_000, "output_tokens": 100_000},
        "0.07",
        {"input": "0.05", "output": "0.02"},
    ),
    # cache $0.02: 100,000 x 0.05/1M = 0.005; 400,000 x 0.02/1M = 0.008; 10,000 x 0.2/1M = 0.002
    (
        "qwen-turbo-cache-hit",
        "alibaba",
        "qwen-turbo",
        {"input_tokens": 500_000, "cache_read_tokens": 400_000, "output_tokens": 10_000},
        "0.015",
        {"input": "0.005", "cache_read": "0.008", "output": "0.002"},
    ),
    # a dated snapshot name is the model: 1M x 0.4/1M = 0.4
    (
        "qwen-plus-snapshot-name",
        "dashscope",
        "qwen-plus-2025-07-28",
        {"input_tokens": 1_000_000},
        "0.4",
        {"input": "0.4"},
    ),
    # --- Moonshot AI (Kimi), international (official page as archived 2026-03-26) ---
    # kimi-k2.5 miss $0.60, hit $0.10, out $3.00: 20,000 x 0.6/1M = 0.012;
    # 80,000 x 0.1/1M = 0.008; 5,000 x 3/1M = 0.015
    (
        "kimi-k2.5-cache-hit",
        "moonshot",
        "kimi-k2.5",
        {"input_tokens": 100_000, "cache_read_tokens": 80_000, "output_tokens": 5_000},
        "0.035",
        {"input": "0.012", "cache_read": "0.008", "output": "0.015"},
    ),
    # thinking tokens are output at $3.00: 1,000 x 0.6/1M = 0.0006; answer 2,000 x 3/1M = 0.006;
    # reasoning 8,000 x 3/1M = 0.024; sum 0.0306
    (
        "kimi-k2.5-thinking",
        "kimi",
        "kimi-k2.5",
        {"input_tokens": 1_000, "output_tokens": 10_000, "reasoning_tokens": 8_000},
        "0.0306",
        {"input": "0.0006", "output": "0.006", "reasoning": "0.024"},
    ),
    # kimi-k2-0905-preview miss $0.60, hit $0.15, out $2.50: 50,000 x 0.6/1M = 0.03;
    # 150,000 x 0.15/1M = 0.0225; 4,000 x 2.5/1M = 0.01
    (
        "kimi-k2-0905-cache-hit",
        "moonshot",
        "kimi-k2-0905-preview",
        {"input_tokens": 200_000, "cache_read_tokens": 150_000, "output_tokens": 4_000},
        "0.0625",
        {"input": "0.03", "cache_read": "0.0225", "output": "0.01"},
    ),
    # kimi-k2-0711-preview: 1M x 0.6/1M + 1M x 2.5/1M = 0.6 + 2.5
    (
        "kimi-k2-0711-1m-1m",
        None,
        "moonshot/kimi-k2-0711-preview",
        {"input_tokens": 1_000_000, "output_tokens": 1_000_000},
        "3.1",
        {"input": "0.6", "output": "2.5"},
    ),
    # every token a cache hit: 1M x 0.15/1M = 0.15
    (
        "kimi-k2-0711-all-cached",
        "moonshot",
        "kimi-k2-0711-preview",
        {"input_tokens": 1_000_000, "cache_read_tokens": 1_000_000},
        "0.15",
        {"input": "0", "cache_read": "0.15"},
    ),
    # --- Z.ai, international (docs.z.ai pricing, Text Models) ---
    # glm-4.6 in $0.6, cached $0.11, out $2.2: 20,000 x 0.6/1M = 0.012;
    # 30,000 x 0.11/1M = 0.0033; 2,000 x 2.2/1M = 0.0044
    (
        "glm-4.6-cache-hit",
        "zai",
        "glm-4.6",
        {"input_tokens": 50_000, "cache_read_tokens": 30_000, "output_tokens": 2_000},
        "0.0197",
        {"input": "0.012", "cache_read": "0.0033", "output": "0.0044"},
    ),
    # glm-4.5: 1M x 0.6/1M + 1M x 2.2/1M = 0.6 + 2.2
    (
        "glm-4.5-1m-1m",
        None,
        "zai/glm-4.5",
        {"input_tokens": 1_000_000, "output_tokens": 1_000_000},
        "2.8",
        {"input": "0.6", "output": "2.2"},
    ),
    # glm-4.5-air in $0.2, cached $0.03, out $1.1: 50,000 x 0.2/1M = 0.01;
    # 50,000 x 0.03/1M = 0.0015; 10,000 x 1.1/1M = 0.011
    (
        "glm-4.5-air-cache-hit",
        "z.ai",
        "glm-4.5-air",
        {"input_tokens": 100_000, "cache_read_tokens": 50_000, "output_tokens": 10_000},
        "0.0225",
        {"input": "0.01", "cache_read": "0.0015", "output": "0.011"},
    ),
    # glm-4.5-flash is free: every part 0
    (
        "glm-4.5-flash-free",
        "zai",
        "glm-4.5-flash",
        {"input_tokens": 100_000, "cache_read_tokens": 20_000, "output_tokens": 50_000},
        "0",
        {"input": "0", "cache_read": "0", "output": "0"},
    ),
    # glm-4.5-x $2.2 / $8.9: 10,000 x 2.2/1M = 0.022; 1,000 x 8.9/1M = 0.0089
    (
        "glm-4.5-x-plain",
        "zai",
        "glm-4.5-x",
        {"input_tokens": 10_000, "output_tokens": 1_000},
        "0.0309",
        {"input": "0.022", "output": "0.0089"},
    ),
    # glm-4-32b-0414-128k has no cached price ('-'): hits billed as input $0.1;
    # 5,000 x 0.1/1M = 0.0005 uncached; 5,000 x 0.1/1M = 0.0005 cached; 10,000 x 0.1/1M = 0.001
    (
        "glm-4-32b-cache-as-input",
        "zai",
        "glm-4-32b-0414-128k",
        {"input_tokens": 10_000, "cache_read_tokens": 5_000, "output_tokens": 10_000},
        "0.002",
        {"input": "0.0005", "cache_read": "0.0005", "output": "0.001"},
    ),
    # glm-4.7 thinking tokens are output at $2.2: 1,000 x 0.6/1M = 0.0006;
    # answer 500 x 2.2/1M = 0.0011; reasoning 2,500 x 2.2/1M = 0.0055
    (
        "glm-4.7-thinking",
        "zai",
        "glm-4.7",
        {"input_tokens": 1_000, "output_tokens": 3_000, "reasoning_tokens": 2_500},
        "0.0072",
        {"input": "0.0006", "output": "0.0011", "reasoning": "0.0055"},
    ),
    # glm-5 all cached at $0.2: 1M x 0.2/1M = 0.2
    (
        "glm-5-all-cached",
        "zai",
        "glm-5",
        {"input_tokens": 1_000_000, "cache_read_tokens": 1_000_000},
        "0.2",
        {"input": "0", "cache_read": "0.2"},
    ),
    # glm-4.7-flashx $0.07 / cached $0.01 / $0.4: 60,000 x 0.07/1M = 0.0042;
    # 40,000 x 0.01/1M = 0.0004; 20,000 x 0.4/1M = 0.008
    (
        "glm-4.7-flashx-cache-hit",
        "zai",
        "glm-4.7-flashx",
        {"input_tokens": 100_000, "cache_read_tokens": 40_000, "output_tokens": 20_000},
        "0.0126",
        {"input": "0.0042", "cache_read": "0.0004", "output": "0.008"},
    ),
]


@each_case(CASES)
def test_hand_computed_cost(catalog: Catalog, case: Case) -> None:
    _, provider, model, usage, total, parts = case
    got = priced(catalog, provider, model, usage, total, parts)
    assert got.long_context_above is None  # no input-length tier is recorded for these


def test_at_least_twenty_distinct_cases() -> None:
    distinct_cases([case[0] for case in CASES], 20)


@pytest.mark.parametrize(
    ("provider", "model", "provider_id", "model_id"),
    [
        ("dashscope", "qwen-max", "alibaba", "qwen-max"),
        (None, "dashscope/qwen-turbo", "alibaba", "qwen-turbo"),
        ("model-studio", "qwen-plus", "alibaba", "qwen-plus"),
        ("kimi", "kimi-k2.5", "moonshot", "kimi-k2.5"),
        (None, "moonshot/kimi-k2-0905-preview", "moonshot", "kimi-k2-0905-preview"),
        ("z.ai", "glm-4.6", "zai", "glm-4.6"),
        (None, "zai/glm-4.5-air", "zai", "glm-4.5-air"),
        # "qwen" and "moonshotai" are not provider aliases: Hugging Face style names
        # of other hosts keep resolving to those hosts.
        (None, "Qwen/Qwen2.5-72B-Instruct-Turbo", "together", "Qwen/Qwen2.5-72B-Instruct-Turbo"),
        (None, "moonshotai/kimi-k2-instruct", "groq", "moonshotai/kimi-k2-instruct"),
    ],
)
def test_names_resolve(
    catalog: Catalog, provider: str | None, model: str, provider_id: str, model_id: str
) -> None:
    ref = catalog.lookup(provider, model)
    assert (ref.provider, ref.spec.id) == (provider_id, model_id)


def test_qwen_max_before_its_first_dated_price_is_not_guessed(catalog: Catalog) -> None:
    # effective 2025-04-22: the day before has no price; that day is $1.6 per 1M input.
    with pytest.raises(NoPriceError):
        catalog.price_at("alibaba", "qwen-max", dt.datetime(2025, 4, 21, 23, 59, tzinfo=dt.UTC))
    price = catalog.price_at("alibaba", "qwen-max", dt.datetime(2025, 4, 22, tzinfo=dt.UTC))
    assert cost(Usage(input_tokens=1_000_000), price).total == Decimal("1.6")


def test_the_new_price_files_are_usd_international_lists(catalog: Catalog) -> None:
    for provider in ("alibaba", "moonshot", "zai"):
        assert provider in catalog.providers


# --- llmtally prices --------------------------------------------------------


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    return prices_cli(tmp_path, monkeypatch)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("qwen", {"alibaba/qwen-max", "alibaba/qwen-plus", "alibaba/qwen-turbo"}),
        (
            "kimi",
            {
                "moonshot/kimi-k2.5",
                "moonshot/kimi-k2-0905-preview",
                "moonshot/kimi-k2-0711-preview",
            },
        ),
        ("glm", {"zai/glm-4.6", "zai/glm-4.5", "zai/glm-4.5-air", "zai/glm-4.5-flash"}),
    ],
)
def test_prices_finds_the_new_models(run: Any, pattern: str, expected: set[str]) -> None:
    rows = {f"{r['provider']}/{r['model']}" for r in prices_json(run, pattern)}
    assert expected <= rows


def test_prices_shows_the_cache_hit_price(run: Any) -> None:
    (row,) = [r for r in prices_json(run, "kimi-k2.5") if r["provider"] == "moonshot"]
    assert Decimal(row["input_per_1m"]) == Decimal("0.60")
    assert Decimal(row["cache_read_per_1m"]) == Decimal("0.10")
    assert Decimal(row["output_per_1m"]) == Decimal("3.00")
