"""Hand-computed costs for the mainland China (CNY) price lists of Moonshot
(moonshot-cn), Zhipu BigModel (zhipu), MiniMax (minimax) and Tencent Hunyuan
(tencent), and for MiniMax's international USD list (minimax-intl), through
``Catalog.price_at`` and ``cost``; which entry a name resolves to; and the names
``llmtally prices`` finds.

Every expected amount is worked by hand from the per-1M prices of the page each
price file cites (the arithmetic is in the comment next to it), never by running
the meter. Amounts are in the file's currency (CNY, or USD for minimax-intl).

The smallest unit each vendor bills: one token, at a price per 1M tokens
(Moonshot "此处 1M = 1,000,000"; Zhipu "元/百万 Tokens"; MiniMax "元/百万 tokens" and
"$ / M tokens"; Tencent "元/百万tokens"); for speech, one character (Zhipu GLM-TTS
"2元/万字符", MiniMax "$ / M characters"). None of the pages read states a rounding
of the charge, so the meter's amount is exact to the token or character and every
test asserts the Decimal exactly, never rounded (a one-token call is a case).

Cache hits are a subset of the prompt (``input_tokens``), as these vendors report
them (``prompt_tokens_details.cached_tokens``); MiniMax's cache writes are too.
An input-length tier is decided on the whole prompt, cache hits included, and
re-prices the whole request (``long_context_above`` names the cliff crossed).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from catalog_cases import NOW, distinct_cases, each_case, priced, prices_cli, prices_json
from llmtally.catalog import Catalog, NoPriceError
from llmtally.meter import cost
from llmtally.usage import Usage

# GLM-5.3-Flash's launch discount ended 2026-09-09 24:00 UTC+8; the list price is dated 2026-09-10.
DISCOUNT_DAY = dt.datetime(2026, 9, 1, 12, 0, tzinfo=dt.UTC)
LIST_DAY = dt.datetime(2026, 9, 10, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


class Case(NamedTuple):
    id: str
    provider: str | None
    model: str
    usage: dict[str, Any]
    total: str
    parts: dict[str, str]
    above: int | None = None  # the long-context cliff crossed
    at: dt.datetime = NOW


CASES: list[Case] = [
    # --- Moonshot mainland (platform.moonshot.cn/docs/pricing/chat, version 2026-02-09) ---
    # kimi-k2.5 miss ¥4.00, hit ¥0.70, out ¥21.00: 20,000 x 4/1M = 0.08;
    # 80,000 x 0.7/1M = 0.056; 5,000 x 21/1M = 0.105; sum 0.241
    Case(
        "kimi-k2.5-cn-cache-hit",
        "moonshot-cn",
        "kimi-k2.5",
        {"input_tokens": 100_000, "cache_read_tokens": 80_000, "output_tokens": 5_000},
        "0.241",
        {"input": "0.08", "cache_read": "0.056", "output": "0.105"},
    ),
    # one output price for thinking: 1,000 x 4/1M = 0.004; answer 2,000 x 21/1M = 0.042;
    # reasoning 8,000 x 21/1M = 0.168; sum 0.214
    Case(
        "kimi-k2.5-cn-thinking",
        "kimi-cn",
        "kimi-k2.5",
        {"input_tokens": 1_000, "output_tokens": 10_000, "reasoning_tokens": 8_000},
        "0.214",
        {"input": "0.004", "output": "0.042", "reasoning": "0.168"},
    ),
    # the smallest unit, one token each way: 1 x 4/1M = 0.000004; 1 x 16/1M = 0.000016
    Case(
        "kimi-k2-0905-cn-one-token",
        None,
        "moonshot-cn/kimi-k2-0905-preview",
        {"input_tokens": 1, "output_tokens": 1},
        "0.00002",
        {"input": "0.000004", "output": "0.000016"},
    ),
    # turbo miss ¥8.00, out ¥58.00: 10,000 x 8/1M = 0.08; 2,000 x 58/1M = 0.116
    Case(
        "kimi-k2-turbo-cn",
        "moonshot-cn",
        "kimi-k2-turbo-preview",
        {"input_tokens": 10_000, "output_tokens": 2_000},
        "0.196",
        {"input": "0.08", "output": "0.116"},
    ),
    # every prompt token a hit at ¥1.00: 1,000,000 x 1/1M = 1
    Case(
        "kimi-k2-thinking-cn-all-cached",
        "moonshot-cn",
        "kimi-k2-thinking",
        {"input_tokens": 1_000_000, "cache_read_tokens": 1_000_000},
        "1",
        {"input": "0", "cache_read": "1"},
    ),
    # moonshot-v1 has no hit price: hits billed as input ¥2.00 (the 8k vision preview's
    # price too): 4,000 x 2/1M = 0.008; 1,000 x 2/1M = 0.002; 1,000 x 10/1M = 0.01
    Case(
        "moonshot-v1-8k-vision-cache-as-input",
        "moonshot-cn",
        "moonshot-v1-8k-vision-preview",
        {"input_tokens": 5_000, "cache_read_tokens": 1_000, "output_tokens": 1_000},
        "0.02",
        {"input": "0.008", "cache_read": "0.002", "output": "0.01"},
    ),
    # moonshot-v1-128k ¥10.00 / ¥30.00: 100,000 x 10/1M = 1; 3,000 x 30/1M = 0.09
    Case(
        "moonshot-v1-128k",
        "moonshot-cn",
        "moonshot-v1-128k",
        {"input_tokens": 100_000, "output_tokens": 3_000},
        "1.09",
        {"input": "1", "output": "0.09"},
    ),
    # --- Zhipu BigModel (open.bigmodel.cn/pricing, page of 2026-09-24) ---
    # glm-5.3 ¥8 / hit ¥2 / ¥28: 30,000 x 8/1M = 0.24; 20,000 x 2/1M = 0.04;
    # 3,000 x 28/1M = 0.084; sum 0.364
    Case(
        "glm-5.3-cache-hit",
        "zhipu",
        "glm-5.3",
        {"input_tokens": 50_000, "cache_read_tokens": 20_000, "output_tokens": 3_000},
        "0.364",
        {"input": "0.24", "cache_read": "0.04", "output": "0.084"},
    ),
    # Batch API at 50%: 200,000 x 8/1M x 0.5 = 0.8; 100,000 x 28/1M x 0.5 = 1.4
    Case(
        "glm-5.3-batch",
        "bigmodel",
        "glm-5.3",
        {"input_tokens": 200_000, "output_tokens": 100_000, "service_tier": "batch"},
        "2.2",
        {"input": "0.8", "output": "1.4"},
    ),
    # glm-5.1 [0,32K): 31,999 input tokens stay in the first tier (¥6 / ¥24):
    # 31,999 x 6/1M = 0.191994; 1,000 x 24/1M = 0.024; sum 0.215994
    Case(
        "glm-5.1-31999-first-tier",
        "zhipu",
        "glm-5.1",
        {"input_tokens": 31_999, "output_tokens": 1_000},
        "0.215994",
        {"input": "0.191994", "output": "0.024"},
    ),
    # 32,000 input tokens are [32K+) (¥8 / ¥28) for the whole request:
    # 32,000 x 8/1M = 0.256; 1,000 x 28/1M = 0.028; sum 0.284
    Case(
        "glm-5.1-32000-second-tier",
        "zhipu",
        "glm-5.1",
        {"input_tokens": 32_000, "output_tokens": 1_000},
        "0.284",
        {"input": "0.256", "output": "0.028"},
        31_999,
    ),
    # the tier counts hits too (100,000 prompt tokens), hits at the tier's ¥2:
    # 40,000 x 8/1M = 0.32; 60,000 x 2/1M = 0.12; 2,000 x 28/1M = 0.056; sum 0.496
    Case(
        "glm-5.1-second-tier-cache-hit",
        "zhipu",
        "glm-5.1",
        {"input_tokens": 100_000, "cache_read_tokens": 60_000, "output_tokens": 2_000},
        "0.496",
        {"input": "0.32", "cache_read": "0.12", "output": "0.056"},
        31_999,
    ),
    # first tier, hits ¥1.3, thinking tokens at the output ¥24: 10,000 x 6/1M = 0.06;
    # 10,000 x 1.3/1M = 0.013; answer 1,000 x 24/1M = 0.024; reasoning 4,000 x 24/1M = 0.096
    Case(
        "glm-5.1-first-tier-thinking",
        "zhipu",
        "glm-5.1",
        {
            "input_tokens": 20_000,
            "cache_read_tokens": 10_000,
            "output_tokens": 5_000,
            "reasoning_tokens": 4_000,
        },
        "0.193",
        {"input": "0.06", "cache_read": "0.013", "output": "0.024", "reasoning": "0.096"},
    ),
    # batch at the request's tier: 50,000 x 8/1M x 0.5 = 0.2; 10,000 x 28/1M x 0.5 = 0.14
    Case(
        "glm-5.1-batch-second-tier",
        "zhipu",
        "glm-5.1",
        {"input_tokens": 50_000, "output_tokens": 10_000, "service_tier": "batch"},
        "0.34",
        {"input": "0.2", "output": "0.14"},
        31_999,
    ),
    # launch discount (¥0.4 / hit ¥0.115 / ¥1.4): 50,000 x 0.4/1M = 0.02;
    # 50,000 x 0.115/1M = 0.00575; 10,000 x 1.4/1M = 0.014; sum 0.03975
    Case(
        "glm-5.3-flash-launch-discount",
        "zhipu",
        "glm-5.3-flash",
        {"input_tokens": 100_000, "cache_read_tokens": 50_000, "output_tokens": 10_000},
        "0.03975",
        {"input": "0.02", "cache_read": "0.00575", "output": "0.014"},
        at=DISCOUNT_DAY,
    ),
    # list price from 2026-09-10 (¥0.8 / ¥0.23 / ¥2.8): 50,000 x 0.8/1M = 0.04;
    # 50,000 x 0.23/1M = 0.0115; 10,000 x 2.8/1M = 0.028; sum 0.0795
    Case(
        "glm-5.3-flash-list-price",
        "zhipu",
        "glm-5.3-flash",
        {"input_tokens": 100_000, "cache_read_tokens": 50_000, "output_tokens": 10_000},
        "0.0795",
        {"input": "0.04", "cache_read": "0.0115", "output": "0.028"},
        at=LIST_DAY,
    ),
    # glm-4.6v [32K,128K) ¥2 / ¥6: 64,000 x 2/1M = 0.128; 2,000 x 6/1M = 0.012
    Case(
        "glm-4.6v-second-tier",
        "zhipu",
        "glm-4.6v",
        {"input_tokens": 64_000, "output_tokens": 2_000},
        "0.14",
        {"input": "0.128", "output": "0.012"},
        31_999,
    ),
    # glm-5v-turbo [32K+) ¥7 / ¥26: 40,000 x 7/1M = 0.28; 1,000 x 26/1M = 0.026
    Case(
        "glm-5v-turbo-second-tier",
        "zhipu",
        "glm-5v-turbo",
        {"input_tokens": 40_000, "output_tokens": 1_000},
        "0.306",
        {"input": "0.28", "output": "0.026"},
        31_999,
    ),
    # glm-4.5v has no hit price on the page read: hits as input ¥2 (first tier):
    # 6,000 x 2/1M = 0.012; 4,000 x 2/1M = 0.008; 1,000 x 6/1M = 0.006
    Case(
        "glm-4.5v-cache-as-input",
        "zhipu",
        "glm-4.5v",
        {"input_tokens": 10_000, "cache_read_tokens": 4_000, "output_tokens": 1_000},
        "0.026",
        {"input": "0.012", "cache_read": "0.008", "output": "0.006"},
    ),
    # GLM-4.7-Flash: "输入免费、输出免费、缓存免费"
    Case(
        "glm-4.7-flash-cn-free",
        "zhipu",
        "glm-4.7-flash",
        {"input_tokens": 100_000, "cache_read_tokens": 20_000, "output_tokens": 50_000},
        "0",
        {"input": "0", "cache_read": "0", "output": "0"},
    ),
    # glm-4-plus ¥5 each way: 1M x 5/1M + 1M x 5/1M
    Case(
        "glm-4-plus-1m-1m",
        "zhipu",
        "glm-4-plus",
        {"input_tokens": 1_000_000, "output_tokens": 1_000_000},
        "10",
        {"input": "5", "output": "5"},
    ),
    # GLM-TTS "2元/万字符" = ¥200 per 1M characters: 12,345 x 200/1M = 2.469
    Case(
        "glm-tts-characters",
        "zhipu",
        "glm-tts",
        {"characters": 12_345},
        "2.469",
        {"input": "2.469"},
    ),
    # Embedding-3 ¥0.5 per 1M input tokens: 10,000 x 0.5/1M = 0.005
    Case(
        "embedding-3-cn",
        "zhipu",
        "embedding-3",
        {"input_tokens": 10_000},
        "0.005",
        {"input": "0.005"},
    ),
    # --- MiniMax mainland (platform.minimaxi.com pricing-paygo) ---
    # M2.7 ¥2.1 / read ¥0.42 / write ¥2.625 / out ¥8.4: 10,000 x 2.1/1M = 0.021;
    # 60,000 x 0.42/1M = 0.0252; 30,000 x 2.625/1M = 0.07875; 4,000 x 8.4/1M = 0.0336
    Case(
        "minimax-m2.7-cn-read-and-write",
        "minimax",
        "MiniMax-M2.7",
        {
            "input_tokens": 100_000,
            "cache_read_tokens": 60_000,
            "cache_write_tokens": 30_000,
            "output_tokens": 4_000,
        },
        "0.15855",
        {"input": "0.021", "cache_read": "0.0252", "cache_write": "0.07875", "output": "0.0336"},
    ),
    # M2.5-highspeed ¥4.2 / ¥16.8: 1M x 4.2/1M + 1M x 16.8/1M
    Case(
        "minimax-m2.5-highspeed-cn",
        "minimaxi",
        "MiniMax-M2.5-highspeed",
        {"input_tokens": 1_000_000, "output_tokens": 1_000_000},
        "21",
        {"input": "4.2", "output": "16.8"},
    ),
    # M2-her has no cache prices ("——"): hits as input ¥2.1: 5,000 x 2.1/1M = 0.0105 twice;
    # 1,000 x 8.4/1M = 0.0084
    Case(
        "minimax-m2-her-cache-as-input",
        "minimax",
        "M2-her",
        {"input_tokens": 10_000, "cache_read_tokens": 5_000, "output_tokens": 1_000},
        "0.0294",
        {"input": "0.0105", "cache_read": "0.0105", "output": "0.0084"},
    ),
    # --- MiniMax international, USD (platform.minimax.io pricing-paygo) ---
    # M3 <= 512k (524,288) input tokens: 524,288 x 0.3/1M = 0.1572864; 1,000 x 1.2/1M = 0.0012
    Case(
        "minimax-m3-intl-at-512k",
        "minimax-intl",
        "MiniMax-M3",
        {"input_tokens": 524_288, "output_tokens": 1_000},
        "0.1584864",
        {"input": "0.1572864", "output": "0.0012"},
    ),
    # > 512k: the whole request at $0.60 / $0.12 / $2.40: 500,000 x 0.6/1M = 0.3;
    # 24,289 x 0.12/1M = 0.00291468; 10,000 x 2.4/1M = 0.024; sum 0.32691468
    Case(
        "minimax-m3-intl-above-512k",
        "minimax-intl",
        "MiniMax-M3",
        {"input_tokens": 524_289, "cache_read_tokens": 24_289, "output_tokens": 10_000},
        "0.32691468",
        {"input": "0.3", "cache_read": "0.00291468", "output": "0.024"},
        524_288,
    ),
    # priority 1.5x ($0.45 / $1.80): 100,000 x 0.45/1M = 0.045; 10,000 x 1.8/1M = 0.018
    Case(
        "minimax-m3-intl-priority",
        "minimax.io",
        "MiniMax-M3",
        {"input_tokens": 100_000, "output_tokens": 10_000, "service_tier": "priority"},
        "0.063",
        {"input": "0.045", "output": "0.018"},
    ),
    # M2.7 $0.3 / read $0.06 / write $0.375 / out $1.2: 10,000 x 0.3/1M = 0.003;
    # 60,000 x 0.06/1M = 0.0036; 30,000 x 0.375/1M = 0.01125; 4,000 x 1.2/1M = 0.0048
    Case(
        "minimax-m2.7-intl-read-and-write",
        None,
        "minimax-intl/MiniMax-M2.7",
        {
            "input_tokens": 100_000,
            "cache_read_tokens": 60_000,
            "cache_write_tokens": 30_000,
            "output_tokens": 4_000,
        },
        "0.02265",
        {"input": "0.003", "cache_read": "0.0036", "cache_write": "0.01125", "output": "0.0048"},
    ),
    # legacy speech-02-turbo is listed at $60/M characters: 1,000 x 60/1M = 0.06
    Case(
        "minimax-intl-speech-02-turbo",
        "minimax-intl",
        "speech-02-turbo",
        {"characters": 1_000},
        "0.06",
        {"input": "0.06"},
    ),
    # --- Tencent Hunyuan TurboS (Tencent's announcement of 2025-02-27) ---
    # ¥0.8 / ¥2: 1,000,000 x 0.8/1M = 0.8; 500,000 x 2/1M = 1
    Case(
        "hunyuan-turbos-latest",
        "tencent",
        "hunyuan-turbos-latest",
        {"input_tokens": 1_000_000, "output_tokens": 500_000},
        "1.8",
        {"input": "0.8", "output": "1"},
    ),
    # no cache price announced: hits as input: 8,000 x 0.8/1M = 0.0064;
    # 2,000 x 0.8/1M = 0.0016; 3,000 x 2/1M = 0.006
    Case(
        "hunyuan-turbos-cache-as-input",
        "hunyuan",
        "hunyuan-turbos",
        {"input_tokens": 10_000, "cache_read_tokens": 2_000, "output_tokens": 3_000},
        "0.014",
        {"input": "0.0064", "cache_read": "0.0016", "output": "0.006"},
    ),
]


@each_case(CASES)
def test_hand_computed_cost(catalog: Catalog, case: Case) -> None:
    got = priced(catalog, case.provider, case.model, case.usage, case.total, case.parts, case.at)
    assert got.long_context_above == case.above


def test_at_least_twenty_distinct_cases() -> None:
    distinct_cases([case.id for case in CASES], 20)


@pytest.mark.parametrize(
    ("provider", "currency"),
    [
        ("moonshot-cn", "CNY"),
        ("zhipu", "CNY"),
        ("minimax", "CNY"),
        ("tencent", "CNY"),
        ("minimax-intl", "USD"),
        # the international lists stay USD
        ("moonshot", "USD"),
        ("zai", "USD"),
    ],
)
def test_each_list_is_in_the_currency_it_bills(
    catalog: Catalog, provider: str, currency: str
) -> None:
    refs = [ref for ref in catalog.refs() if ref.provider == provider]
    assert refs
    for ref in refs:
        assert ref.currency == currency, ref.spec.id
        assert catalog.price_of(ref, NOW).currency == currency, ref.spec.id


@pytest.mark.parametrize(
    ("provider", "model", "provider_id", "model_id"),
    [
        # bare names the international files also list keep their USD entry
        (None, "kimi-k2.5", "moonshot", "kimi-k2.5"),
        ("kimi", "kimi-k2-0905-preview", "moonshot", "kimi-k2-0905-preview"),
        (None, "glm-4.7-flash", "zai", "glm-4.7-flash"),
        # the mainland entry when the provider is named, by id, alias or prefix
        ("moonshot-cn", "kimi-k2.5", "moonshot-cn", "kimi-k2.5"),
        ("kimi-cn", "kimi-k2-0711-preview", "moonshot-cn", "kimi-k2-0711-preview"),
        (None, "moonshot-cn/kimi-k2.5", "moonshot-cn", "kimi-k2.5"),
        ("zhipuai", "glm-4.7-flash", "zhipu", "glm-4.7-flash"),
        (None, "zhipu/glm-5.1", "zhipu", "glm-5.1"),
        # names only a mainland file lists
        (None, "kimi-k2-turbo-preview", "moonshot-cn", "kimi-k2-turbo-preview"),
        (None, "glm-5.3", "zhipu", "glm-5.3"),
        (None, "hunyuan-turbos-latest", "tencent", "hunyuan-turbos-latest"),
        # MiniMax: bare names are the mainland list (it loads first); intl when named
        (None, "MiniMax-M2.7", "minimax", "MiniMax-M2.7"),
        ("minimax-intl", "MiniMax-M2.7", "minimax-intl", "MiniMax-M2.7"),
        (None, "MiniMax-M3", "minimax-intl", "MiniMax-M3"),
    ],
)
def test_names_resolve(
    catalog: Catalog, provider: str | None, model: str, provider_id: str, model_id: str
) -> None:
    ref = catalog.lookup(provider, model)
    assert (ref.provider, ref.spec.id) == (provider_id, model_id)


def test_no_turbos_price_before_its_announcement(catalog: Catalog) -> None:
    # effective 2025-02-27: the day before has no price; that day is ¥0.8 per 1M input.
    with pytest.raises(NoPriceError):
        catalog.price_at("tencent", "hunyuan-turbos", dt.datetime(2025, 2, 26, tzinfo=dt.UTC))
    price = catalog.price_at("tencent", "hunyuan-turbos", dt.datetime(2025, 2, 27, tzinfo=dt.UTC))
    assert cost(Usage(input_tokens=1_000_000), price).total == Decimal("0.8")


# --- llmtally prices --------------------------------------------------------


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    return prices_cli(tmp_path, monkeypatch)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (
            "kimi",
            {
                "moonshot-cn/kimi-k2.5",
                "moonshot-cn/kimi-k2-turbo-preview",
                "moonshot-cn/kimi-k2-thinking",
                "moonshot/kimi-k2.5",
            },
        ),
        ("glm", {"zhipu/glm-5.3", "zhipu/glm-5.1", "zhipu/glm-4.7-flash", "zai/glm-4.7-flash"}),
        ("minimax", {"minimax/MiniMax-M2.7", "minimax-intl/MiniMax-M3"}),
        ("hunyuan", {"tencent/hunyuan-turbos-latest"}),
    ],
)
def test_prices_finds_the_mainland_models(run: Any, pattern: str, expected: set[str]) -> None:
    rows = {f"{r['provider']}/{r['model']}" for r in prices_json(run, pattern)}
    assert expected <= rows


def test_prices_shows_the_mainland_cache_hit_price(run: Any) -> None:
    listed = prices_json(run, "moonshot-cn/kimi-k2.5")
    (row,) = [r for r in listed if r["provider"] == "moonshot-cn"]
    assert Decimal(row["input_per_1m"]) == Decimal("4.00")
    assert Decimal(row["cache_read_per_1m"]) == Decimal("0.70")
    assert Decimal(row["output_per_1m"]) == Decimal("21.00")
