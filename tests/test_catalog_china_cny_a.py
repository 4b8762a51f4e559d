"""Hand-computed costs for the mainland-China (CNY) price lists of Alibaba Cloud
Model Studio (``alibaba-cn``) and Volcengine Ark / Doubao (``volcengine``), through
``Catalog.price_at`` and ``cost``, and the names ``llmtally prices`` finds for them.

Every expected amount is worked by hand from the per-1M prices of the page each
price file cites (the arithmetic is in the comment next to it), never by running
the meter. Amounts are CNY (元).

Exactness: the smallest unit of the currency is the fen (0.01 CNY); neither
vendor's page states a per-call rounding or a billing unit finer than its
per-1M price, so a call's charge is its exact amount (tokens x price / 1M) and
the meter's Decimal is asserted exactly, to the last digit, never rounded.

Shapes covered: Qwen's input-length tiers on both sides of every threshold
(32K / 128K / 256K, K = 1,024 tokens; the whole request at the tier of its input),
Doubao's tiers at 32,000 / 128,000 tokens, cache hits (a subset of the prompt, as
``prompt_tokens_details.cached_tokens`` reports them), thinking-mode output
(``output_thinking``: every output token of a request with reasoning tokens),
batch as a discount and as its own rates, and Doubao's output-length condition
(a cliff with ``output_above``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from catalog_cases import NOW, distinct_cases, each_case, priced, prices_cli, prices_json
from llmtally.catalog import Catalog, NoPriceError
from llmtally.meter import cost
from llmtally.usage import Usage


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


# (id, provider, model, usage, total, parts, long_context_above)
Case = tuple[str, str | None, str, dict[str, Any], str, dict[str, str], int | None]

ALIBABA: list[Case] = [
    # --- qwen-plus: 0-128K ¥0.8 in / ¥2 out / ¥8 thinking; 128K-256K ¥2.4 / ¥20 / ¥24;
    # 256K-1M ¥4.8 / ¥48 / ¥64 ---
    # 10,000 x 0.8/1M = 0.008; 2,000 x 2/1M = 0.004
    (
        "qwen-plus-tier1",
        "alibaba-cn",
        "qwen-plus",
        {"input_tokens": 10_000, "output_tokens": 2_000},
        "0.012",
        {"input": "0.008", "output": "0.004"},
        None,
    ),
    # exactly 128K = 131,072 stays in the first tier: 131,072 x 0.8/1M = 0.1048576;
    # 1,000 x 2/1M = 0.002
    (
        "qwen-plus-at-128k",
        "alibaba-cn",
        "qwen-plus",
        {"input_tokens": 131_072, "output_tokens": 1_000},
        "0.1068576",
        {"input": "0.1048576", "output": "0.002"},
        None,
    ),
    # one token more re-prices the whole request: 131,073 x 2.4/1M = 0.3145752;
    # 1,000 x 20/1M = 0.02
    (
        "qwen-plus-above-128k",
        "alibaba-cn",
        "qwen-plus",
        {"input_tokens": 131_073, "output_tokens": 1_000},
        "0.3345752",
        {"input": "0.3145752", "output": "0.02"},
        131_072,
    ),
    # exactly 256K = 262,144: 262,144 x 2.4/1M = 0.6291456; 500 x 20/1M = 0.01
    (
        "qwen-plus-at-256k",
        "alibaba-cn",
        "qwen-plus",
        {"input_tokens": 262_144, "output_tokens": 500},
        "0.6391456",
        {"input": "0.6291456", "output": "0.01"},
        131_072,
    ),
    # 262,145 x 4.8/1M = 1.258296; 500 x 48/1M = 0.024
    (
        "qwen-plus-above-256k",
        "alibaba-cn",
        "qwen-plus",
        {"input_tokens": 262_145, "output_tokens": 500},
        "1.282296",
        {"input": "1.258296", "output": "0.024"},
        262_144,
    ),
    # thinking, tier 1: 10,000 x 0.8/1M = 0.008; answer 1,000 x 8/1M = 0.008;
    # reasoning 2,000 x 8/1M = 0.016
    (
        "qwen-plus-thinking-tier1",
        "alibaba-cn",
        "qwen-plus",
        {"input_tokens": 10_000, "output_tokens": 3_000, "reasoning_tokens": 2_000},
        "0.032",
        {"input": "0.008", "output": "0.008", "reasoning": "0.016"},
        None,
    ),
    # thinking, tier 2: 200,000 x 2.4/1M = 0.48; answer 400 x 24/1M = 0.0096;
    # reasoning 600 x 24/1M = 0.0144
    (
        "qwen-plus-thinking-tier2",
        "alibaba-cn",
        "qwen-plus",
        {"input_tokens": 200_000, "output_tokens": 1_000, "reasoning_tokens": 600},
        "0.504",
        {"input": "0.48", "output": "0.0096", "reasoning": "0.0144"},
        131_072,
    ),
    # thinking, tier 3: 300,000 x 4.8/1M = 1.44; answer 500 x 64/1M = 0.032;
    # reasoning 1,500 x 64/1M = 0.096
    (
        "qwen-plus-thinking-tier3",
        "alibaba-cn",
        "qwen-plus",
        {"input_tokens": 300_000, "output_tokens": 2_000, "reasoning_tokens": 1_500},
        "1.568",
        {"input": "1.44", "output": "0.032", "reasoning": "0.096"},
        262_144,
    ),
    # batch half price: 100,000 x 0.4/1M = 0.04; 10,000 x 1/1M = 0.01
    (
        "qwen-plus-batch",
        "alibaba-cn",
        "qwen-plus",
        {"input_tokens": 100_000, "output_tokens": 10_000, "service_tier": "batch"},
        "0.05",
        {"input": "0.04", "output": "0.01"},
        None,
    ),
    # batch thinking, tier 2 (half of ¥2.4 / ¥24): 150,000 x 1.2/1M = 0.18;
    # answer 1,000 x 12/1M = 0.012; reasoning 1,000 x 12/1M = 0.012
    (
        "qwen-plus-batch-thinking-tier2",
        "alibaba-cn",
        "qwen-plus",
        {
            "input_tokens": 150_000,
            "output_tokens": 2_000,
            "reasoning_tokens": 1_000,
            "service_tier": "batch",
        },
        "0.204",
        {"input": "0.18", "output": "0.012", "reasoning": "0.012"},
        131_072,
    ),
    # no cache price recorded (see the price note): cached tokens at input,
    # 15,000 x 0.8/1M = 0.012; 5,000 x 0.8/1M = 0.004
    (
        "qwen-plus-cache-as-input",
        "alibaba-cn",
        "qwen-plus",
        {"input_tokens": 20_000, "cache_read_tokens": 5_000},
        "0.016",
        {"input": "0.012", "cache_read": "0.004"},
        None,
    ),
    # --- qwen3-max: 0-32K ¥2.5 / ¥10; 32K-128K ¥4 / ¥16; 128K-252K ¥7 / ¥28;
    # implicit cache hits at 20% of the tier's input ---
    # exactly 32K = 32,768: 32,768 x 2.5/1M = 0.08192; 1,000 x 10/1M = 0.01
    (
        "qwen3-max-at-32k",
        "alibaba-cn",
        "qwen3-max",
        {"input_tokens": 32_768, "output_tokens": 1_000},
        "0.09192",
        {"input": "0.08192", "output": "0.01"},
        None,
    ),
    # 32,769 x 4/1M = 0.131076; 1,000 x 16/1M = 0.016
    (
        "qwen3-max-above-32k",
        "alibaba-cn",
        "qwen3-max",
        {"input_tokens": 32_769, "output_tokens": 1_000},
        "0.147076",
        {"input": "0.131076", "output": "0.016"},
        32_768,
    ),
    # 131,072 x 4/1M = 0.524288; 2,000 x 16/1M = 0.032
    (
        "qwen3-max-at-128k",
        "alibaba-cn",
        "qwen3-max",
        {"input_tokens": 131_072, "output_tokens": 2_000},
        "0.556288",
        {"input": "0.524288", "output": "0.032"},
        32_768,
    ),
    # 131,073 x 7/1M = 0.917511; 2,000 x 28/1M = 0.056
    (
        "qwen3-max-above-128k",
        "alibaba-cn",
        "qwen3-max",
        {"input_tokens": 131_073, "output_tokens": 2_000},
        "0.973511",
        {"input": "0.917511", "output": "0.056"},
        131_072,
    ),
    # cache hits at 20% of ¥2.5 = ¥0.5: 8,000 x 2.5/1M = 0.02; 12,000 x 0.5/1M = 0.006;
    # 1,000 x 10/1M = 0.01
    (
        "qwen3-max-cache-tier1",
        "bailian",
        "qwen3-max",
        {"input_tokens": 20_000, "cache_read_tokens": 12_000, "output_tokens": 1_000},
        "0.036",
        {"input": "0.02", "cache_read": "0.006", "output": "0.01"},
        None,
    ),
    # the prompt (cache included) decides the tier: 100,000 > 32,768, cache at 20% of
    # ¥4 = ¥0.8: 40,000 x 4/1M = 0.16; 60,000 x 0.8/1M = 0.048; 500 x 16/1M = 0.008
    (
        "qwen3-max-cache-tier2",
        "alibaba-cn",
        "qwen3-max",
        {"input_tokens": 100_000, "cache_read_tokens": 60_000, "output_tokens": 500},
        "0.216",
        {"input": "0.16", "cache_read": "0.048", "output": "0.008"},
        32_768,
    ),
    # one output price for thinking and non-thinking: 10,000 x 2.5/1M = 0.025;
    # answer 500 x 10/1M = 0.005; reasoning 1,500 x 10/1M = 0.015
    (
        "qwen3-max-thinking",
        "alibaba-cn",
        "qwen3-max",
        {"input_tokens": 10_000, "output_tokens": 2_000, "reasoning_tokens": 1_500},
        "0.045",
        {"input": "0.025", "output": "0.005", "reasoning": "0.015"},
        None,
    ),
    # batch, tier 2 (half of ¥4 / ¥16); no cache discount in batch: cached tokens at
    # the batch input price. 30,000 x 2/1M = 0.06; 20,000 x 2/1M = 0.04;
    # 1,000 x 8/1M = 0.008
    (
        "qwen3-max-batch-cache-tier2",
        "alibaba-cn",
        "qwen3-max",
        {
            "input_tokens": 50_000,
            "cache_read_tokens": 20_000,
            "output_tokens": 1_000,
            "service_tier": "batch",
        },
        "0.108",
        {"input": "0.06", "cache_read": "0.04", "output": "0.008"},
        32_768,
    ),
    # --- qwen-turbo: ¥0.3 in / ¥0.6 out / ¥3 thinking, no tiers ---
    # 100,000 x 0.3/1M = 0.03; 10,000 x 0.6/1M = 0.006
    (
        "qwen-turbo-plain",
        "alibaba-cn",
        "qwen-turbo",
        {"input_tokens": 100_000, "output_tokens": 10_000},
        "0.036",
        {"input": "0.03", "output": "0.006"},
        None,
    ),
    # 1,000 x 0.3/1M = 0.0003; answer 1,000 x 3/1M = 0.003; reasoning 3,000 x 3/1M = 0.009
    (
        "qwen-turbo-thinking",
        "alibaba-cn",
        "qwen-turbo",
        {"input_tokens": 1_000, "output_tokens": 4_000, "reasoning_tokens": 3_000},
        "0.0123",
        {"input": "0.0003", "output": "0.003", "reasoning": "0.009"},
        None,
    ),
    # batch half price, thinking included: 1,000 x 0.15/1M = 0.00015;
    # 1,000 x 1.5/1M = 0.0015; 3,000 x 1.5/1M = 0.0045
    (
        "qwen-turbo-batch-thinking",
        "alibaba-cn",
        "qwen-turbo",
        {
            "input_tokens": 1_000,
            "output_tokens": 4_000,
            "reasoning_tokens": 3_000,
            "service_tier": "batch",
        },
        "0.00615",
        {"input": "0.00015", "output": "0.0015", "reasoning": "0.0045"},
        None,
    ),
    # --- qwen-flash: 0-128K ¥0.15 / ¥1.5; 128K-256K ¥0.6 / ¥6; cache 20% ---
    # 131,072 x 0.15/1M = 0.0196608; 1,000 x 1.5/1M = 0.0015
    (
        "qwen-flash-at-128k",
        "alibaba-cn",
        "qwen-flash",
        {"input_tokens": 131_072, "output_tokens": 1_000},
        "0.0211608",
        {"input": "0.0196608", "output": "0.0015"},
        None,
    ),
    # 131,073 x 0.6/1M = 0.0786438; 1,000 x 6/1M = 0.006
    (
        "qwen-flash-above-128k",
        "alibaba-cn",
        "qwen-flash",
        {"input_tokens": 131_073, "output_tokens": 1_000},
        "0.0846438",
        {"input": "0.0786438", "output": "0.006"},
        131_072,
    ),
    # 30,000 x 0.15/1M = 0.0045; cache 10,000 x 0.03/1M = 0.0003; 2,000 x 1.5/1M = 0.003
    (
        "qwen-flash-cache",
        "alibaba-cn",
        "qwen-flash",
        {"input_tokens": 40_000, "cache_read_tokens": 10_000, "output_tokens": 2_000},
        "0.0078",
        {"input": "0.0045", "cache_read": "0.0003", "output": "0.003"},
        None,
    ),
    # --- qwen-max ¥2.4 / ¥9.6, batch half; qwen3.7-max ¥12 / ¥36, cache 20% ---
    # 10,000 x 2.4/1M = 0.024; 1,000 x 9.6/1M = 0.0096
    (
        "qwen-max-plain",
        "alibaba-cn",
        "qwen-max",
        {"input_tokens": 10_000, "output_tokens": 1_000},
        "0.0336",
        {"input": "0.024", "output": "0.0096"},
        None,
    ),
    # 10,000 x 1.2/1M = 0.012; 1,000 x 4.8/1M = 0.0048
    (
        "qwen-max-batch",
        "alibaba-cn",
        "qwen-max",
        {"input_tokens": 10_000, "output_tokens": 1_000, "service_tier": "batch"},
        "0.0168",
        {"input": "0.012", "output": "0.0048"},
        None,
    ),
    # 50,000 x 12/1M = 0.6; cache 50,000 x 2.4/1M = 0.12; 5,000 x 36/1M = 0.18
    (
        "qwen3.7-max-cache",
        "alibaba-cn",
        "qwen3.7-max",
        {"input_tokens": 100_000, "cache_read_tokens": 50_000, "output_tokens": 5_000},
        "0.9",
        {"input": "0.6", "cache_read": "0.12", "output": "0.18"},
        None,
    ),
    # --- qwen3.6-plus: 0-256K ¥2 / ¥12; 256K-1M ¥8 / ¥48 ---
    # 262,144 x 2/1M = 0.524288; 1,000 x 12/1M = 0.012
    (
        "qwen3.6-plus-at-256k",
        "alibaba-cn",
        "qwen3.6-plus",
        {"input_tokens": 262_144, "output_tokens": 1_000},
        "0.536288",
        {"input": "0.524288", "output": "0.012"},
        None,
    ),
    # 262,145 x 8/1M = 2.09716; 1,000 x 48/1M = 0.048
    (
        "qwen3.6-plus-above-256k",
        "alibaba-cn",
        "qwen3.6-plus",
        {"input_tokens": 262_145, "output_tokens": 1_000},
        "2.14516",
        {"input": "2.09716", "output": "0.048"},
        262_144,
    ),
    # qwen3.5-plus, one output price in both modes: 10,000 x 0.8/1M = 0.008;
    # answer 1,000 x 4.8/1M = 0.0048; reasoning 1,000 x 4.8/1M = 0.0048
    (
        "qwen3.5-plus-thinking",
        "alibaba-cn",
        "qwen3.5-plus",
        {"input_tokens": 10_000, "output_tokens": 2_000, "reasoning_tokens": 1_000},
        "0.0176",
        {"input": "0.008", "output": "0.0048", "reasoning": "0.0048"},
        None,
    ),
    # --- qwen3-vl-plus: 0-32K ¥1 / ¥10; 32K-128K ¥1.5 / ¥15; cache 20% ---
    # 32,768 x 1/1M = 0.032768; 1,000 x 10/1M = 0.01
    (
        "qwen3-vl-plus-at-32k",
        "alibaba-cn",
        "qwen3-vl-plus",
        {"input_tokens": 32_768, "output_tokens": 1_000},
        "0.042768",
        {"input": "0.032768", "output": "0.01"},
        None,
    ),
    # 32,769 tokens, 10,000 of them cached: 22,769 x 1.5/1M = 0.0341535;
    # 10,000 x 0.3/1M = 0.003; 1,000 x 15/1M = 0.015
    (
        "qwen3-vl-plus-above-32k-cache",
        "alibaba-cn",
        "qwen3-vl-plus",
        {"input_tokens": 32_769, "cache_read_tokens": 10_000, "output_tokens": 1_000},
        "0.0521535",
        {"input": "0.0341535", "cache_read": "0.003", "output": "0.015"},
        32_768,
    ),
    # qvq-max ¥8 / ¥32, reasoning billed as output: 2,000 x 8/1M = 0.016;
    # answer 500 x 32/1M = 0.016; reasoning 1,500 x 32/1M = 0.048
    (
        "qvq-max-reasoning",
        "alibaba-cn",
        "qvq-max",
        {"input_tokens": 2_000, "output_tokens": 2_000, "reasoning_tokens": 1_500},
        "0.08",
        {"input": "0.016", "output": "0.016", "reasoning": "0.048"},
        None,
    ),
    # qwen-long ¥0.5 / ¥2: 1,000,000 x 0.5/1M = 0.5; 10,000 x 2/1M = 0.02
    (
        "qwen-long-1m",
        "alibaba-cn",
        "qwen-long",
        {"input_tokens": 1_000_000, "output_tokens": 10_000},
        "0.52",
        {"input": "0.5", "output": "0.02"},
        None,
    ),
]

VOLCENGINE: list[Case] = [
    # --- doubao-seed-1.6-thinking: [0,32] ¥0.80 / cache ¥0.16 / ¥8; (32,128] ¥1.20 / ¥16;
    # (128,256] ¥2.40 / ¥24 (千 token = 1,000 tokens) ---
    # 32,000 x 0.8/1M = 0.0256; answer 500 x 8/1M = 0.004; reasoning 1,500 x 8/1M = 0.012
    (
        "seed-1.6-thinking-at-32k",
        "volcengine",
        "doubao-seed-1-6-thinking",
        {"input_tokens": 32_000, "output_tokens": 2_000, "reasoning_tokens": 1_500},
        "0.0416",
        {"input": "0.0256", "output": "0.004", "reasoning": "0.012"},
        None,
    ),
    # 32,001 x 1.2/1M = 0.0384012; 1,000 x 16/1M = 0.016
    (
        "seed-1.6-thinking-above-32k",
        "volcengine",
        "doubao-seed-1-6-thinking-250715",
        {"input_tokens": 32_001, "output_tokens": 1_000},
        "0.0544012",
        {"input": "0.0384012", "output": "0.016"},
        32_000,
    ),
    # 128,000 x 1.2/1M = 0.1536; 1,000 x 16/1M = 0.016
    (
        "seed-1.6-thinking-at-128k",
        "volcengine",
        "doubao-seed-1.6-thinking",
        {"input_tokens": 128_000, "output_tokens": 1_000},
        "0.1696",
        {"input": "0.1536", "output": "0.016"},
        32_000,
    ),
    # 128,001 x 2.4/1M = 0.3072024; 1,000 x 24/1M = 0.024
    (
        "seed-1.6-thinking-above-128k",
        "doubao",
        "doubao-seed-1-6-thinking",
        {"input_tokens": 128_001, "output_tokens": 1_000},
        "0.3312024",
        {"input": "0.3072024", "output": "0.024"},
        128_000,
    ),
    # cache hit ¥0.16 in every tier: 20,000 x 1.2/1M = 0.024; 80,000 x 0.16/1M = 0.0128;
    # 1,000 x 16/1M = 0.016
    (
        "seed-1.6-thinking-cache-tier2",
        "volcengine",
        "doubao-seed-1-6-thinking",
        {"input_tokens": 100_000, "cache_read_tokens": 80_000, "output_tokens": 1_000},
        "0.0528",
        {"input": "0.024", "cache_read": "0.0128", "output": "0.016"},
        32_000,
    ),
    # batch [0,32]: ¥0.40 / cache ¥0.16 / ¥4: 10,000 x 0.4/1M = 0.004;
    # 10,000 x 0.16/1M = 0.0016; 1,000 x 4/1M = 0.004
    (
        "seed-1.6-thinking-batch-cache",
        "volcengine",
        "doubao-seed-1-6-thinking",
        {
            "input_tokens": 20_000,
            "cache_read_tokens": 10_000,
            "output_tokens": 1_000,
            "service_tier": "batch",
        },
        "0.0096",
        {"input": "0.004", "cache_read": "0.0016", "output": "0.004"},
        None,
    ),
    # batch (128,256]: ¥1.20 / ¥12: 200,000 x 1.2/1M = 0.24; 1,000 x 12/1M = 0.012
    (
        "seed-1.6-thinking-batch-tier3",
        "volcengine",
        "doubao-seed-1-6-thinking",
        {"input_tokens": 200_000, "output_tokens": 1_000, "service_tier": "batch"},
        "0.252",
        {"input": "0.24", "output": "0.012"},
        128_000,
    ),
    # --- doubao-seed-1.8: [0,32] input and output ≤ 0.2K ¥0.80 / ¥2; output > 0.2K ¥8
    # (the cliff above: 0, output_above: 200); (32,128] ¥1.20 / ¥16 ---
    # 200 output tokens is still "[0, 0.2]": 1,000 x 0.8/1M = 0.0008; 200 x 2/1M = 0.0004
    (
        "seed-1.8-output-at-200",
        "volcengine",
        "doubao-seed-1.8",
        {"input_tokens": 1_000, "output_tokens": 200},
        "0.0012",
        {"input": "0.0008", "output": "0.0004"},
        None,
    ),
    # 201 output tokens: 1,000 x 0.8/1M = 0.0008; 201 x 8/1M = 0.001608
    (
        "seed-1.8-output-above-200",
        "volcengine",
        "doubao-seed-1-8-251215",
        {"input_tokens": 1_000, "output_tokens": 201},
        "0.002408",
        {"input": "0.0008", "output": "0.001608"},
        0,
    ),
    # 32,000 input stays in the first tier: 32,000 x 0.8/1M = 0.0256; 201 x 8/1M = 0.001608
    (
        "seed-1.8-at-32k-long-answer",
        "volcengine",
        "doubao-seed-1.8",
        {"input_tokens": 32_000, "output_tokens": 201},
        "0.027208",
        {"input": "0.0256", "output": "0.001608"},
        0,
    ),
    # reasoning counts in the output length (150 ≤ 200): 5,000 x 0.8/1M = 0.004;
    # answer 50 x 2/1M = 0.0001; reasoning 100 x 2/1M = 0.0002
    (
        "seed-1.8-short-thinking",
        "volcengine",
        "doubao-seed-1.8",
        {"input_tokens": 5_000, "output_tokens": 150, "reasoning_tokens": 100},
        "0.0043",
        {"input": "0.004", "output": "0.0001", "reasoning": "0.0002"},
        None,
    ),
    # batch ¥0.40 / ¥1 (≤ 0.2K): 10,000 x 0.4/1M = 0.004; 200 x 1/1M = 0.0002
    (
        "seed-1.8-batch-short",
        "volcengine",
        "doubao-seed-1.8",
        {"input_tokens": 10_000, "output_tokens": 200, "service_tier": "batch"},
        "0.0042",
        {"input": "0.004", "output": "0.0002"},
        None,
    ),
    # batch ¥0.40 / ¥4 (> 0.2K): 10,000 x 0.4/1M = 0.004; 1,000 x 4/1M = 0.004
    (
        "seed-1.8-batch-long",
        "volcengine",
        "doubao-seed-1.8",
        {"input_tokens": 10_000, "output_tokens": 1_000, "service_tier": "batch"},
        "0.008",
        {"input": "0.004", "output": "0.004"},
        0,
    ),
    # (32,128] ¥1.20 / ¥16 whatever the output length: 50,000 x 1.2/1M = 0.06;
    # 100 x 16/1M = 0.0016
    (
        "seed-1.8-tier2-short-answer",
        "volcengine",
        "doubao-seed-1.8",
        {"input_tokens": 50_000, "output_tokens": 100},
        "0.0616",
        {"input": "0.06", "output": "0.0016"},
        32_000,
    ),
]

CASES = ALIBABA + VOLCENGINE


@each_case(CASES)
def test_hand_computed_cost(catalog: Catalog, case: Case) -> None:
    _, provider, model, usage, total, parts, above = case
    assert catalog.price_at(provider, model, NOW).currency == "CNY"
    got = priced(catalog, provider, model, usage, total, parts)
    assert got.long_context_above == above


def test_at_least_twenty_five_distinct_cases() -> None:
    distinct_cases([case[0] for case in CASES], 25)


@pytest.mark.parametrize(
    ("provider", "model", "provider_id", "model_id"),
    [
        ("alibaba-cn", "qwen-plus", "alibaba-cn", "qwen-plus"),
        ("bailian", "qwen3-max", "alibaba-cn", "qwen3-max"),
        ("dashscope-cn", "qwen-turbo", "alibaba-cn", "qwen-turbo"),
        (None, "alibaba-cn/qwen-flash", "alibaba-cn", "qwen-flash"),
        # a bare name keeps resolving to the international (USD) list
        (None, "qwen-plus", "alibaba", "qwen-plus"),
        ("volcengine", "doubao-seed-1.6-thinking", "volcengine", "doubao-seed-1-6-thinking"),
        (None, "doubao-seed-1-6-thinking-250615", "volcengine", "doubao-seed-1-6-thinking"),
        ("doubao", "doubao-seed-1-8-251215", "volcengine", "doubao-seed-1-8"),
    ],
)
def test_names_resolve(
    catalog: Catalog, provider: str | None, model: str, provider_id: str, model_id: str
) -> None:
    ref = catalog.lookup(provider, model)
    assert (ref.provider, ref.spec.id, ref.currency) == (
        provider_id,
        model_id,
        "USD" if provider_id == "alibaba" else "CNY",
    )


def test_a_price_before_its_first_dated_entry_is_not_guessed(catalog: Catalog) -> None:
    # qwen-plus (alibaba-cn) effective 2026-04-02: the day before has no price; that day
    # 100,000 x 0.8/1M = ¥0.08.
    with pytest.raises(NoPriceError):
        catalog.price_at("alibaba-cn", "qwen-plus", dt.datetime(2026, 4, 1, 23, 59, tzinfo=dt.UTC))
    price = catalog.price_at("alibaba-cn", "qwen-plus", dt.datetime(2026, 4, 2, tzinfo=dt.UTC))
    assert cost(Usage(input_tokens=100_000), price).total == Decimal("0.08")


def test_a_thinking_request_with_no_reasoning_reported_is_priced_as_non_thinking(
    catalog: Catalog,
) -> None:
    # The meter knows a thinking request only by its reasoning tokens: 1,000 x 2/1M.
    price = catalog.price_at("alibaba-cn", "qwen-plus", NOW)
    assert cost(Usage(output_tokens=1_000), price).output == Decimal("0.002")


# --- llmtally prices --------------------------------------------------------


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    return prices_cli(tmp_path, monkeypatch)


def test_prices_qwen_plus_finds_the_mainland_list(run: Any) -> None:
    rows = {f"{r['provider']}/{r['model']}": r for r in prices_json(run, "qwen-plus")}
    assert {"alibaba/qwen-plus", "alibaba-cn/qwen-plus"} <= set(rows)
    mainland = rows["alibaba-cn/qwen-plus"]
    # the first tier's list prices: ¥0.8 in, ¥2 out, batch half (¥0.4 / ¥1)
    assert Decimal(mainland["input_per_1m"]) == Decimal("0.8")
    assert Decimal(mainland["output_per_1m"]) == Decimal("2")
    assert Decimal(mainland["batch_input_per_1m"]) == Decimal("0.4")
    assert Decimal(mainland["batch_output_per_1m"]) == Decimal("1")


def test_prices_doubao_finds_the_volcengine_models(run: Any) -> None:
    rows = {f"{r['provider']}/{r['model']}" for r in prices_json(run, "doubao")}
    assert {"volcengine/doubao-seed-1-6-thinking", "volcengine/doubao-seed-1-8"} <= rows
