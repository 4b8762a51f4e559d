"""Hand-computed costs for Baidu ERNIE on Qianfan (baidu.yaml, CNY), through
``Catalog.price_at`` and ``cost``; which entry a name resolves to; and what
``llmtally prices`` lists.

Every expected amount is worked by hand from the rates Baidu's "prompt cache上线公告"
(https://ai.baidu.com/ai-doc/WENXINWORKSHOP/Rm6uq7jy9, read 2026-12-07) gives for
ERNIE-4.0-Turbo-8K, converted from 元/千tokens to per 1M tokens (x 1,000):
input (cache miss) 0.003 -> ¥3, cache hit 0.0012 -> ¥1.2, output 0.009 -> ¥9.

The smallest unit Baidu bills is one token at a price per 1,000 tokens; the page
states no rounding of a charge, so the meter's amount is exact to the token (below
the fen, ¥0.01) and every case asserts the Decimal exactly (a one-token call is a case).
Cache hits are a subset of the prompt (``input_tokens``), as Qianfan reports them
(``usage.cached_tokens``).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from catalog_cases import NOW, distinct_cases, each_case, priced, prices_cli, prices_json
from llmtally.catalog import Catalog

MODEL = "ernie-4.0-turbo-8k"


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


CASES: list[Case] = [
    # 1,000,000 x 3/1M = 3; 1,000,000 x 9/1M = 9; sum 12
    Case(
        "one-million-each-way",
        "baidu",
        MODEL,
        {"input_tokens": 1_000_000, "output_tokens": 1_000_000},
        "12",
        {"input": "3", "output": "9"},
    ),
    # 2,000 x 3/1M = 0.006; 500 x 9/1M = 0.0045; sum 0.0105 (a fen and a half)
    Case(
        "short-chat",
        "baidu",
        MODEL,
        {"input_tokens": 2_000, "output_tokens": 500},
        "0.0105",
        {"input": "0.006", "output": "0.0045"},
    ),
    # 8,000 of 10,000 prompt tokens hit the cache: misses 2,000 x 3/1M = 0.006;
    # hits 8,000 x 1.2/1M = 0.0096; output 1,000 x 9/1M = 0.009; sum 0.0246
    Case(
        "cache-hit",
        "baidu",
        MODEL,
        {"input_tokens": 10_000, "cache_read_tokens": 8_000, "output_tokens": 1_000},
        "0.0246",
        {"input": "0.006", "cache_read": "0.0096", "output": "0.009"},
    ),
    # every prompt token a hit: 1,000,000 x 1.2/1M = 1.2 (40% of the input price)
    Case(
        "all-cached",
        "baidu",
        MODEL,
        {"input_tokens": 1_000_000, "cache_read_tokens": 1_000_000},
        "1.2",
        {"input": "0", "cache_read": "1.2"},
    ),
    # the smallest unit, one token each way: 1 x 3/1M = 0.000003; 1 x 9/1M = 0.000009
    Case(
        "one-token",
        "baidu",
        MODEL,
        {"input_tokens": 1, "output_tokens": 1},
        "0.000012",
        {"input": "0.000003", "output": "0.000009"},
    ),
    # by the alias qianfan: 5,120 x 3/1M = 0.01536; 2,048 x 9/1M = 0.018432; sum 0.033792
    Case(
        "alias-qianfan",
        "qianfan",
        MODEL,
        {"input_tokens": 5_120, "output_tokens": 2_048},
        "0.033792",
        {"input": "0.01536", "output": "0.018432"},
    ),
    # prefixed name: misses (700 - 300) x 3/1M = 0.0012; hits 300 x 1.2/1M = 0.00036;
    # output 100 x 9/1M = 0.0009; sum 0.00246
    Case(
        "prefixed-name-cache-hit",
        None,
        f"baidu/{MODEL}",
        {"input_tokens": 700, "cache_read_tokens": 300, "output_tokens": 100},
        "0.00246",
        {"input": "0.0012", "cache_read": "0.00036", "output": "0.0009"},
    ),
    # the bare name: 123,456 x 3/1M = 0.370368; 7,890 x 9/1M = 0.07101; sum 0.441378
    Case(
        "bare-name",
        None,
        MODEL,
        {"input_tokens": 123_456, "output_tokens": 7_890},
        "0.441378",
        {"input": "0.370368", "output": "0.07101"},
    ),
    # no reasoning price: reasoning tokens (part of the output) at the output price:
    # 1,000 x 3/1M = 0.003; answer 2,000 x 9/1M = 0.018; reasoning 1,000 x 9/1M = 0.009
    Case(
        "reasoning-at-output-price",
        "wenxin",
        MODEL,
        {"input_tokens": 1_000, "output_tokens": 3_000, "reasoning_tokens": 1_000},
        "0.03",
        {"input": "0.003", "output": "0.018", "reasoning": "0.009"},
    ),
]


@each_case(CASES)
def test_hand_computed_cost(catalog: Catalog, case: Case) -> None:
    got = priced(catalog, case.provider, case.model, case.usage, case.total, case.parts)
    assert got.price.currency == "CNY"
    assert got.long_context_above is None


def test_at_least_eight_distinct_cases() -> None:
    distinct_cases([case.id for case in CASES], 8)


def test_the_list_is_in_the_currency_baidu_bills(catalog: Catalog) -> None:
    refs = [ref for ref in catalog.refs() if ref.provider == "baidu"]
    assert [ref.spec.id for ref in refs] == [MODEL]
    for ref in refs:
        assert ref.currency == "CNY"
        assert catalog.price_of(ref, NOW).currency == "CNY"


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        (None, MODEL),
        (None, "ERNIE-4.0-Turbo-8K"),
        (None, f"qianfan/{MODEL}"),
        ("baidu", MODEL),
        ("ernie", MODEL),
        ("baidu-qianfan", MODEL),
    ],
)
def test_names_resolve_to_the_baidu_entry(
    catalog: Catalog, provider: str | None, model: str
) -> None:
    ref = catalog.lookup(provider, model)
    assert (ref.provider, ref.spec.id) == ("baidu", MODEL)


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        # the mainland files' bare names keep their entries beside baidu.yaml
        ("kimi-k2.5", "moonshot"),
        ("glm-5.3", "zhipu"),
        ("hunyuan-turbos-latest", "tencent"),
        ("MiniMax-M2.7", "minimax"),
    ],
)
def test_baidu_takes_no_other_files_bare_name(catalog: Catalog, model: str, provider: str) -> None:
    assert catalog.lookup(None, model).provider == provider


# --- llmtally prices --------------------------------------------------------


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    return prices_cli(tmp_path, monkeypatch)


def test_prices_finds_ernie_with_its_cache_hit_price(run: Any) -> None:
    rows = [r for r in prices_json(run, "ernie") if r["provider"] == "baidu"]
    assert [r["model"] for r in rows] == [MODEL]
    (row,) = rows
    # 0.003 / 0.0012 / 0.009 元/千tokens x 1,000 = 3 / 1.2 / 9 per 1M
    assert Decimal(row["input_per_1m"]) == Decimal("3")
    assert Decimal(row["cache_read_per_1m"]) == Decimal("1.2")
    assert Decimal(row["output_per_1m"]) == Decimal("9")
