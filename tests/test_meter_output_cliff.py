"""Cliffs with ``output_above``: a cliff that also needs the request's output to be
longer than a bound (Volcengine Ark's "输入长度 [0, 32] 且输出长度 (0.2, +∞)"). On a
synthetic price, so each rule is checked on its own; amounts are worked by hand.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from catalog_cases import synthetic_catalog
from llmtally.catalog import Catalog, CatalogFileError, Price
from llmtally.catalog.loader import parse_provider_file
from llmtally.meter import cost
from llmtally.usage import Usage

FILE = """\
provider: acme
name: ACME
pricing_url: https://acme.example/pricing
currency: CNY
models:
  - id: seedish
    prices:
      - source: https://acme.example/pricing
        input: "1"
        output: "2"
        long_context:
          - {above: 0, output_above: 200, output: "8"}
          - {above: 1000, input: "3", output: "16"}
        batch:
          input: "0.5"
          output: "1"
          long_context:
            - {above: 0, output_above: 200, output: "4"}
        windows:
          - {start: "16:00", end: "18:00", discount: "0.5"}
"""

NOON = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return synthetic_catalog(tmp_path_factory, FILE)


def _price(catalog: Catalog, at: dt.datetime = NOON) -> Price:
    return catalog.price_at("acme", "seedish", at)


@pytest.mark.parametrize(
    ("usage", "output", "above"),
    [
        # 200 output tokens is not more than 200: 200 x 2/1M
        (Usage(input_tokens=100, output_tokens=200), "0.0004", None),
        # 201 crosses the output bound: 201 x 8/1M
        (Usage(input_tokens=100, output_tokens=201), "0.001608", 0),
        # a prompt over 1,000 takes the input cliff whatever the output: 100 x 16/1M
        (Usage(input_tokens=1_001, output_tokens=100), "0.0016", 1000),
        (Usage(input_tokens=1_001, output_tokens=500), "0.008", 1000),
        # batch has its own output cliff: 200 x 1/1M, then 300 x 4/1M
        (Usage(input_tokens=100, output_tokens=200, service_tier="batch"), "0.0002", None),
        (Usage(input_tokens=100, output_tokens=300, service_tier="batch"), "0.0012", 0),
    ],
)
def test_the_output_bound_decides_with_the_prompt(
    catalog: Catalog, usage: Usage, output: str, above: int | None
) -> None:
    got = cost(usage, _price(catalog))
    assert got.output == Decimal(output)
    assert got.long_context_above == above


def test_reasoning_counts_in_the_output_length(catalog: Catalog) -> None:
    # 250 output tokens, 100 of them reasoning: over 200, so all at 8:
    # 150 x 8/1M = 0.0012; 100 x 8/1M = 0.0008
    got = cost(Usage(input_tokens=10, output_tokens=250, reasoning_tokens=100), _price(catalog))
    assert (got.output, got.reasoning) == (Decimal("0.0012"), Decimal("0.0008"))


def test_a_sum_of_requests_is_decided_per_request(catalog: Catalog) -> None:
    # 10 requests of a 100-token prompt (the prompt_tokens argument decides the input
    # cliff), 1,500 output tokens: 150 each, under the bound: 1,500 x 2/1M = 0.003;
    # 10 requests, 2,010 tokens: 201 each on average, over it: 2,010 x 8/1M = 0.01608
    price = _price(catalog)
    assert cost(
        Usage(input_tokens=1_000, output_tokens=1_500, requests=10), price, 100
    ).output == Decimal("0.003")
    assert cost(
        Usage(input_tokens=1_000, output_tokens=2_010, requests=10), price, 100
    ).output == Decimal("0.01608")


def test_a_window_discount_keeps_the_output_bound(catalog: Catalog) -> None:
    # 17:00 UTC, x 0.5: 200 tokens at 1 (0.0002), 201 at 4 (0.000804)
    at = dt.datetime(2026, 12, 7, 17, 0, tzinfo=dt.UTC)
    price = _price(catalog, at)
    assert cost(Usage(input_tokens=10, output_tokens=200), price).output == Decimal("0.0002")
    assert cost(Usage(input_tokens=10, output_tokens=201), price).output == Decimal("0.000804")


def test_a_zero_cliff_needs_an_output_bound() -> None:
    text = FILE.replace('{above: 0, output_above: 200, output: "8"}', '{above: 0, output: "8"}')
    with pytest.raises(CatalogFileError, match="'above: 0' needs 'output_above'"):
        parse_provider_file(text, "acme.yaml")


def test_cliffs_of_one_list_need_distinct_bounds() -> None:
    text = FILE.replace("{above: 1000, input:", "{above: 0, output_above: 500, input:")
    with pytest.raises(CatalogFileError, match="distinct 'above' values"):
        parse_provider_file(text, "acme.yaml")
