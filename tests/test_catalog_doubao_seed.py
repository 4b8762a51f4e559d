"""Hand-computed costs for Doubao-Seed-1.6 and Doubao-Seed-1.6-flash on Volcengine Ark
(volcengine.yaml, CNY per 1M tokens), and the names that reach them.

Source (read 2026-12-07): each model's page in the Ark docs, "模型价格" table, read
through stored copies of the page text (Hajimi-Commune/VolcanoArkDocs,
docs/模型介绍/推荐模型/doubao-seed-1.6.md and doubao-seed-1.6-flash.md); the pages send to
the price list https://www.volcengine.com/docs/82379/1544106, which the file cites.
- doubao-seed-1.6 (versions 250615, 251015): 输入长度 [0, 32] 且输出长度 [0, 0.2]
  input 0.80 / cache hit 0.16 / output 2.00; [0, 32] and output (0.2, +∞) 0.80 / 0.16 /
  8.00; (32, 128] 1.20 / 0.16 / 16.00; (128, 256] 2.40 / 0.16 / 24.00. Batch 0.40 /
  0.16 / 1.00 or 4.00; 0.60 / 0.16 / 8.00; 1.20 / 0.16 / 12.00.
- doubao-seed-1.6-flash (versions 250615, 250715, 250828): [0, 32] 0.15 / 0.03 / 1.50;
  (32, 128] 0.30 / 0.03 / 3.00; (128, 256] 0.60 / 0.03 / 6.00. Batch 0.075 / 0.03 /
  0.75; 0.150 / 0.03 / 1.50; 0.300 / 0.03 / 3.00.
"输入输出价位按照输入长度来定档": the whole request at the tier of its input length, the
conditions in 千 token = 1,000 tokens (cliffs above 32,000 and 128,000). The output
length condition counts every output token, reasoning included (as for Seed-1.8).
Amounts are exact (no per-call rounding stated), asserted to the last digit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from catalog_cases import distinct_cases, each_case, priced
from llmtally.catalog import Catalog, NoPriceError

# (id, provider, model, usage, total, parts, long_context_above)
Case = tuple[str, str | None, str, dict[str, Any], str, dict[str, str], int | None]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


CASES: list[Case] = [
    # --- doubao-seed-1.6 ---
    # [0, 32] with exactly 200 output tokens: 2.00. 4000 x 0.80 = 3200; 200 x 2 = 400;
    # 3600 per 1M = ¥0.0036
    (
        "seed-1.6-short-answer",
        "volcengine",
        "doubao-seed-1-6-250615",
        {"input_tokens": 4_000, "output_tokens": 200},
        "0.0036",
        {"input": "0.0032", "output": "0.0004"},
        None,
    ),
    # 201 output tokens: every output token at 8.00: 3200 + 201 x 8 = 3200 + 1608 = 4808
    # per 1M = ¥0.004808
    (
        "seed-1.6-long-answer",
        "volcengine",
        "doubao-seed-1-6-251015",
        {"input_tokens": 4_000, "output_tokens": 201},
        "0.004808",
        {"input": "0.0032", "output": "0.001608"},
        0,
    ),
    # test_wires_china's "doubao" transcript: 4000 in (3072 cached), 700 out (650
    # reasoning): 928 x 0.80 = 742.4; 3072 x 0.16 = 491.52; 700 x 8 = 5600 (answer
    # 50 x 8 = 400, reasoning 650 x 8 = 5200); 6833.92 per 1M = ¥0.00683392
    (
        "seed-1.6-wire-transcript",
        None,
        "doubao-seed-1-6-250615",
        {
            "input_tokens": 4_000,
            "cache_read_tokens": 3_072,
            "output_tokens": 700,
            "reasoning_tokens": 650,
        },
        "0.00683392",
        {
            "input": "0.0007424",
            "cache_read": "0.00049152",
            "output": "0.0004",
            "reasoning": "0.0052",
        },
        0,
    ),
    # exactly 32,000 input stays in [0, 32]: 32000 x 0.80 = 25600; 100 x 2 = 200;
    # 25800 per 1M = ¥0.0258
    (
        "seed-1.6-at-32k",
        "volcengine",
        "doubao-seed-1.6",
        {"input_tokens": 32_000, "output_tokens": 100},
        "0.0258",
        {"input": "0.0256", "output": "0.0002"},
        None,
    ),
    # 32,001: (32, 128] whatever the output length: 32001 x 1.2 = 38401.2; 100 x 16 = 1600;
    # 40001.2 per 1M = ¥0.0400012
    (
        "seed-1.6-above-32k",
        "doubao",
        "doubao-seed-1-6-250615",
        {"input_tokens": 32_001, "output_tokens": 100},
        "0.0400012",
        {"input": "0.0384012", "output": "0.0016"},
        32_000,
    ),
    # exactly 128,000: 128000 x 1.2 = 153600; 1000 x 16 = 16000; 169600 per 1M = ¥0.1696
    (
        "seed-1.6-at-128k",
        "volcengine",
        "doubao-seed-1-6-250615",
        {"input_tokens": 128_000, "output_tokens": 1_000},
        "0.1696",
        {"input": "0.1536", "output": "0.016"},
        32_000,
    ),
    # 128,001, cache hits at 0.16 in every tier: (128001 - 100000) x 2.4 = 67202.4;
    # 100000 x 0.16 = 16000; 1000 x 24 = 24000; 107202.4 per 1M = ¥0.1072024
    (
        "seed-1.6-above-128k-cached",
        "volcengine",
        "doubao-seed-1-6-250615",
        {"input_tokens": 128_001, "cache_read_tokens": 100_000, "output_tokens": 1_000},
        "0.1072024",
        {"input": "0.0672024", "cache_read": "0.016", "output": "0.024"},
        128_000,
    ),
    # batch, [0, 32] and a long answer: 4000 x 0.40 = 1600; 1000 x 4 = 4000;
    # 5600 per 1M = ¥0.0056
    (
        "seed-1.6-batch-long-answer",
        "volcengine",
        "doubao-seed-1-6-250615",
        {"input_tokens": 4_000, "output_tokens": 1_000, "service_tier": "batch"},
        "0.0056",
        {"input": "0.0016", "output": "0.004"},
        0,
    ),
    # batch above 128K: 200000 x 1.2 = 240000; 1000 x 12 = 12000; 252000 per 1M = ¥0.252
    (
        "seed-1.6-batch-above-128k",
        "volcengine",
        "doubao-seed-1-6-250615",
        {"input_tokens": 200_000, "output_tokens": 1_000, "service_tier": "batch"},
        "0.252",
        {"input": "0.24", "output": "0.012"},
        128_000,
    ),
    # --- doubao-seed-1.6-flash ---
    # test_wires_china's "doubao-stream": 64 in, 12 out: 64 x 0.15 = 9.6; 12 x 1.5 = 18;
    # 27.6 per 1M = ¥0.0000276
    (
        "flash-wire-transcript",
        None,
        "doubao-seed-1-6-flash-250615",
        {"input_tokens": 64, "output_tokens": 12},
        "0.0000276",
        {"input": "0.0000096", "output": "0.000018"},
        None,
    ),
    # exactly 32,000, 30,000 cached: 2000 x 0.15 = 300; 30000 x 0.03 = 900;
    # 500 x 1.5 = 750; 1950 per 1M = ¥0.00195
    (
        "flash-at-32k-cached",
        "volcengine",
        "doubao-seed-1.6-flash",
        {"input_tokens": 32_000, "cache_read_tokens": 30_000, "output_tokens": 500},
        "0.00195",
        {"input": "0.0003", "cache_read": "0.0009", "output": "0.00075"},
        None,
    ),
    # 32,001: 2001 x 0.30 = 600.3; 900; 500 x 3 = 1500; 3000.3 per 1M = ¥0.0030003
    (
        "flash-above-32k-cached",
        "volcengine",
        "doubao-seed-1-6-flash-250828",
        {"input_tokens": 32_001, "cache_read_tokens": 30_000, "output_tokens": 500},
        "0.0030003",
        {"input": "0.0006003", "cache_read": "0.0009", "output": "0.0015"},
        32_000,
    ),
    # exactly 128,000: 128000 x 0.3 = 38400; 2000 x 3 = 6000; 44400 per 1M = ¥0.0444
    (
        "flash-at-128k",
        "volcengine",
        "doubao-seed-1-6-flash-250715",
        {"input_tokens": 128_000, "output_tokens": 2_000},
        "0.0444",
        {"input": "0.0384", "output": "0.006"},
        32_000,
    ),
    # 128,001 with thinking (reasoning billed as output): 128001 x 0.6 = 76800.6;
    # 2000 x 6 = 12000; 88800.6 per 1M = ¥0.0888006
    (
        "flash-above-128k-thinking",
        "volcengine",
        "doubao-seed-1-6-flash-250828",
        {"input_tokens": 128_001, "output_tokens": 2_000, "reasoning_tokens": 1_500},
        "0.0888006",
        {"input": "0.0768006", "output": "0.003", "reasoning": "0.009"},
        128_000,
    ),
    # batch (32, 128], 60,000 in with 10,000 cached: 50000 x 0.150 = 7500;
    # 10000 x 0.03 = 300; 1000 x 1.50 = 1500; 9300 per 1M = ¥0.0093
    (
        "flash-batch-above-32k",
        "volcengine",
        "doubao-seed-1-6-flash-250828",
        {
            "input_tokens": 60_000,
            "cache_read_tokens": 10_000,
            "output_tokens": 1_000,
            "service_tier": "batch",
        },
        "0.0093",
        {"input": "0.0075", "cache_read": "0.0003", "output": "0.0015"},
        32_000,
    ),
]


@each_case(CASES)
def test_hand_computed_cost(catalog: Catalog, case: Case) -> None:
    _, provider, model, usage, total, parts, above = case
    got = priced(catalog, provider, model, usage, total, parts)
    assert (got.price.currency, got.long_context_above) == ("CNY", above)


def test_at_least_fifteen_distinct_cases() -> None:
    distinct_cases([case[0] for case in CASES], 15)


@pytest.mark.parametrize(
    ("model", "model_id"),
    [
        ("doubao-seed-1-6-250615", "doubao-seed-1-6"),
        ("doubao-seed-1-6-251015", "doubao-seed-1-6"),
        ("doubao-seed-1.6", "doubao-seed-1-6"),
        ("doubao-seed-1-6-flash-250615", "doubao-seed-1-6-flash"),
        ("doubao-seed-1.6-flash", "doubao-seed-1-6-flash"),
        # the thinking model keeps its own entry
        ("doubao-seed-1-6-thinking-250715", "doubao-seed-1-6-thinking"),
    ],
)
def test_names_resolve(catalog: Catalog, model: str, model_id: str) -> None:
    ref = catalog.lookup(None, model)
    assert (ref.provider, ref.spec.id) == ("volcengine", model_id)


def test_the_vision_and_lite_versions_are_not_priced_as_seed_1_6(catalog: Catalog) -> None:
    # doubao-seed-1-6-vision / -lite have other prices (not in the file): no match
    for model in ("doubao-seed-1-6-vision-250815", "doubao-seed-1-6-lite-251015"):
        with pytest.raises(LookupError):
            catalog.lookup("volcengine", model)


def test_a_call_before_the_newest_listed_version_is_not_priced(catalog: Catalog) -> None:
    # 'effective' is the newest version the page lists: 251015 for Seed-1.6
    before = dt.datetime(2025, 10, 14, 23, 59, tzinfo=dt.UTC)
    with pytest.raises(NoPriceError):
        catalog.price_at("volcengine", "doubao-seed-1-6-250615", before)
