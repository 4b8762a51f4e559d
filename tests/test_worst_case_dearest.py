"""A budget's reservation bounds a call at the dearest reading the request allows
(budgets/worst_case.py): every prompt token a cache write (1-hour rate where the
price has one) when the request marks anything for caching, and every output
token at the thinking / reasoning rate unless the request turns thinking off.
Before this, a thinking answer (Qwen's and Doubao's thinking modes bill the whole
answer at the thinking rate) and a prompt written to an explicit cache could cost
more than was reserved, and two gateways overspent a CNY budget
(tests/test_wires_load.py).

On a synthetic USD price, so each rule is seen on its own. The model has no
tokenizer, so the prompt counts as the body's size in bytes (``raw_size``, 1,000
here); the output is the request's ``max_tokens`` (100). Amounts by hand below.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from catalog_cases import synthetic_catalog
from llmtally.budgets.worst_case import Call, worst_case
from llmtally.catalog import Catalog
from llmtally.providers.wires import ANTHROPIC, OPENAI_CHAT

FILE = """\
provider: acme
name: ACME
pricing_url: https://acme.example/pricing
models:
  - id: thinker
    prices:
      - source: https://acme.example/pricing
        input: "2"
        cache_write: "2.5"
        cache_write_1h: "4"
        cache_read: "0.2"
        output: "8"
        output_thinking: "20"
  - id: plain
    prices:
      - {source: "https://acme.example/pricing", input: "2", cache_read: "0.2", output: "8"}
  - id: reasoner
    prices:
      - {source: "https://acme.example/pricing", input: "2", output: "8", reasoning: "30"}
"""

NOON = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
PROMPT, CAP = 1_000, 100  # raw_size bytes (no tokenizer), max_tokens


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return synthetic_catalog(tmp_path_factory, FILE)


def _usd(catalog: Catalog, model: str, extra: dict[str, Any], wire: Any = OPENAI_CHAT) -> Decimal:
    request = {
        "model": model,
        "max_tokens": CAP,
        "messages": [{"role": "user", "content": "hi"}],
        **extra,
    }
    call = Call(wire=wire, provider="acme", model=model, request=request, raw_size=PROMPT)
    bound = worst_case(call, catalog, NOON)
    assert bound.usd is not None, bound.why
    assert bound.tokens == PROMPT + CAP
    return bound.usd


def test_a_thinking_price_reserves_the_output_at_the_thinking_rate(catalog: Catalog) -> None:
    # 1,000 x 2 + 100 x 20 = 2,000 + 2,000 = 4,000 per 1M = 0.004
    assert _usd(catalog, "thinker", {}) == Decimal("0.004")
    assert _usd(catalog, "thinker", {"enable_thinking": True}) == Decimal("0.004")


@pytest.mark.parametrize(
    "off", [{"enable_thinking": False}, {"thinking": {"type": "disabled"}}], ids=["qwen", "ark"]
)
def test_thinking_turned_off_reserves_the_plain_output_rate(
    catalog: Catalog, off: dict[str, Any]
) -> None:
    # 1,000 x 2 + 100 x 8 = 2,000 + 800 = 2,800 per 1M = 0.0028
    assert _usd(catalog, "thinker", off) == Decimal("0.0028")


def test_a_cache_marker_reserves_the_prompt_as_1h_cache_writes(catalog: Catalog) -> None:
    marked = {
        "enable_thinking": False,
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "a long document", "cache_control": {"type": "ephemeral"}},
            ]},
        ],
    }  # fmt: skip
    # 1,000 x 4 (the 1-hour write rate, the dearest) + 100 x 8 = 4,000 + 800 = 0.0048
    assert _usd(catalog, "thinker", marked) == Decimal("0.0048")
    # a marker and thinking: 1,000 x 4 + 100 x 20 = 4,000 + 2,000 = 6,000 per 1M = 0.006
    del marked["enable_thinking"]
    assert _usd(catalog, "thinker", marked, ANTHROPIC) == Decimal("0.006")
    # Bedrock Converse's marker is a cachePoint block: the same 0.006
    converse = {"messages": [{"role": "user", "content": [{"cachePoint": {"type": "default"}}]}]}
    assert _usd(catalog, "thinker", converse) == Decimal("0.006")


def test_a_reasoning_rate_above_output_is_reserved(catalog: Catalog) -> None:
    # reasoning billed at 30: 1,000 x 2 + 100 x 30 = 2,000 + 3,000 = 5,000 per 1M = 0.005
    assert _usd(catalog, "reasoner", {}) == Decimal("0.005")
    # turned off: 1,000 x 2 + 100 x 8 = 0.0028
    assert _usd(catalog, "reasoner", {"thinking": {"type": "disabled"}}) == Decimal("0.0028")


def test_a_price_with_nothing_dearer_is_reserved_as_before(catalog: Catalog) -> None:
    marked = {"messages": [{"role": "user", "content": [{"cache_control": {}, "text": "x"}]}]}
    # no cache-write, reasoning or thinking rate: 1,000 x 2 + 100 x 8 = 0.0028 either way
    assert _usd(catalog, "plain", {}) == Decimal("0.0028")
    assert _usd(catalog, "plain", marked) == Decimal("0.0028")


def test_a_prompt_the_tokenizer_refuses_is_bounded_by_its_size() -> None:
    """Qwen's tokenizer raises TypeError on a lone surrogate; the bound falls back
    to the body's size in bytes (no token is shorter than a byte) instead of
    failing the request with a plain 500."""
    request = {"model": "qwen-plus", "max_tokens": 10, "enable_thinking": False,
               "messages": [{"role": "user", "content": "a\ud800b"}]}  # fmt: skip
    call = Call(wire=OPENAI_CHAT, provider="alibaba-cn", model="qwen-plus", request=request,
                raw_size=777)  # fmt: skip
    bound = worst_case(call, Catalog.load(), NOON)
    assert bound.tokens == 777 + 10
    # alibaba_cn.yaml qwen-plus, first tier, CNY per 1M: 777 x 0.8 + 10 x 2 = 621.6 + 20 =
    # 641.6 per 1M = 0.0006416 CNY (then in USD at the day's rate)
    assert "0.0006416 CNY" in bound.why


def test_an_approximate_count_is_doubled_and_capped_by_the_body_size() -> None:
    """Claude Sonnet 4.5 counts with claude_approx (Claude 2.1's vocabulary standing
    in), which can be below Anthropic's count: the bound takes twice the count, at
    most the body's size in bytes. anthropic.yaml: $3 in, $15 out per 1M."""
    from llmtally.tokens.registry import default_registry

    model = "claude-sonnet-4-5"
    _, tokenizer = default_registry().for_model(model, "anthropic")
    assert not tokenizer.exact
    text = "Summarise the quarterly report in three bullet points, please. " * 20
    request = {"model": model, "max_tokens": CAP,
               "messages": [{"role": "user", "content": text}]}  # fmt: skip
    counted = ANTHROPIC.count_prompt(request, tokenizer, model)
    assert counted is not None and counted.total > 100  # the test's input: a real count
    for raw_size, expected in ((100_000, 2 * counted.total), (150, 150)):
        call = Call(wire=ANTHROPIC, provider="anthropic", model=model, request=request,
                    raw_size=raw_size)  # fmt: skip
        bound = worst_case(call, Catalog.load(), NOON)
        assert bound.tokens == expected + CAP
        # the bound's input tokens x 3 + 100 x 15, per 1M
        assert bound.usd == (Decimal(expected) * 3 + CAP * 15) / 1_000_000
