"""``output_thinking``: a thinking-mode request (its usage reports reasoning
tokens) has EVERY output token, answer and reasoning, billed at the thinking
rate, as Alibaba Cloud Model Studio (Qwen) and Volcengine Ark (Doubao) bill it;
a request without reasoning tokens stays at ``output``. On a synthetic price, so
each rule is checked on its own; amounts are worked by hand in the comments.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from catalog_cases import synthetic_catalog
from llmtally.catalog import Catalog, CatalogFileError, Price
from llmtally.catalog.loader import parse_provider_file
from llmtally.meter import Cost, cost
from llmtally.usage import Usage

FILE = """\
provider: acme
name: ACME
pricing_url: https://acme.example/pricing
currency: CNY
models:
  - id: qwenish
    prices:
      - source: https://acme.example/pricing
        input: "2"
        cache_read: "0.4"
        output: "8"
        output_thinking: "20"
        long_context:
          - {above: 1000, input: "4", output: "16", output_thinking: "40"}
          - {above: 5000, input: "6"}
        batch: {discount: "0.5"}
        flex: {input: "1", output: "3", output_thinking: "7"}
        windows:
          - {start: "16:00", end: "18:00", discount: "0.25"}
  - id: both
    prices:
      - {source: "https://acme.example/pricing", input: "1", output: "4", reasoning: "9",
         output_thinking: "12"}
"""

NOON = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return synthetic_catalog(tmp_path_factory, FILE)


def _price(catalog: Catalog, model: str, at: dt.datetime = NOON) -> Price:
    return catalog.price_at("acme", model, at)


def _qwenish(catalog: Catalog, usage: Usage) -> Cost:
    """``usage`` of the thinking model at noon."""
    return cost(usage, _price(catalog, "qwenish"))


def test_a_thinking_request_bills_answer_and_reasoning_at_the_thinking_rate(
    catalog: Catalog,
) -> None:
    # 100 in x 2/1M = 0.0002; 600 answer x 20/1M = 0.012; 400 reasoning x 20/1M = 0.008
    c = _qwenish(catalog, Usage(input_tokens=100, output_tokens=1000, reasoning_tokens=400))
    assert (c.input, c.output, c.reasoning) == (
        Decimal("0.0002"),
        Decimal("0.012"),
        Decimal("0.008"),
    )
    assert c.total == Decimal("0.0202")
    assert c.price.currency == "CNY"


def test_a_request_without_reasoning_stays_at_the_output_rate(catalog: Catalog) -> None:
    # 100 x 2/1M = 0.0002; 1,000 x 8/1M = 0.008
    c = cost(Usage(input_tokens=100, output_tokens=1000), _price(catalog, "qwenish"))
    assert (c.output, c.reasoning, c.total) == (Decimal("0.008"), Decimal(0), Decimal("0.0082"))


def test_the_thinking_rate_wins_over_a_reasoning_rate(catalog: Catalog) -> None:
    # 700 answer x 12/1M = 0.0084; 300 reasoning x 12/1M = 0.0036 (not 9 nor 4)
    c = cost(Usage(output_tokens=1000, reasoning_tokens=300), _price(catalog, "both"))
    assert (c.output, c.reasoning) == (Decimal("0.0084"), Decimal("0.0036"))
    # without reasoning the model's 'reasoning' rate is not involved: 1,000 x 4/1M
    assert cost(Usage(output_tokens=1000), _price(catalog, "both")).output == Decimal("0.004")


def test_a_long_context_cliff_carries_its_own_thinking_rate(catalog: Catalog) -> None:
    # prompt 1,001 > 1,000: 1,001 x 4/1M = 0.004004; 200 x 40/1M = 0.008; 300 x 40/1M = 0.012
    c = _qwenish(catalog, Usage(input_tokens=1001, output_tokens=500, reasoning_tokens=300))
    assert (c.input, c.output, c.reasoning) == (
        Decimal("0.004004"),
        Decimal("0.008"),
        Decimal("0.012"),
    )
    assert c.long_context_above == 1000
    # at exactly 1,000 the base rates: 1,000 x 2/1M = 0.002; 500 x 20/1M = 0.01
    c = _qwenish(catalog, Usage(input_tokens=1000, output_tokens=500, reasoning_tokens=300))
    assert (c.input, c.output + c.reasoning) == (Decimal("0.002"), Decimal("0.01"))


def test_a_cliff_that_leaves_the_thinking_rate_out_keeps_the_one_below(
    catalog: Catalog,
) -> None:
    # above 5,000 only input changes (6); cliffs overlay in order, so output_thinking
    # is the base's 20 (cliffs are not cumulative: the 1,000 cliff is not applied).
    # 6,000 x 6/1M = 0.036; 100 x 20/1M = 0.002
    c = _qwenish(catalog, Usage(input_tokens=6000, output_tokens=100, reasoning_tokens=100))
    assert (c.input, c.reasoning, c.output) == (Decimal("0.036"), Decimal("0.002"), Decimal(0))


def test_a_batch_discount_scales_the_thinking_rate(catalog: Catalog) -> None:
    # 0.5 x: 100 x 1/1M = 0.0001; 600 x 10/1M = 0.006; 400 x 10/1M = 0.004
    c = _qwenish(
        catalog,
        Usage(input_tokens=100, output_tokens=1000, reasoning_tokens=400, service_tier="batch"),
    )
    assert (c.input, c.output, c.reasoning) == (
        Decimal("0.0001"),
        Decimal("0.006"),
        Decimal("0.004"),
    )


def test_a_tier_with_its_own_thinking_rate(catalog: Catalog) -> None:
    # flex: 1,000 x 7/1M = 0.007 thinking; 1,000 x 3/1M = 0.003 without reasoning
    thinking = Usage(output_tokens=1000, reasoning_tokens=1000, service_tier="flex")
    plain = Usage(output_tokens=1000, service_tier="flex")
    price = _price(catalog, "qwenish")
    assert cost(thinking, price).reasoning == Decimal("0.007")
    assert cost(plain, price).output == Decimal("0.003")


def test_a_time_window_discount_scales_the_thinking_rate(catalog: Catalog) -> None:
    # 17:00 UTC is inside 16:00-18:00, x 0.25: 1,000 x 5/1M = 0.005
    at = dt.datetime(2026, 12, 7, 17, 0, tzinfo=dt.UTC)
    c = cost(Usage(output_tokens=1000, reasoning_tokens=10), _price(catalog, "qwenish", at))
    assert c.output + c.reasoning == Decimal("0.005")


def test_a_negative_thinking_rate_is_refused() -> None:
    text = FILE.replace('output_thinking: "20"', 'output_thinking: "-1"')
    with pytest.raises(CatalogFileError, match="output_thinking: Input should be greater"):
        parse_provider_file(text, "acme.yaml")
