"""The meter's rules on a synthetic price, so each rule is checked on its own."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from llmtally.catalog import Catalog, Price
from llmtally.meter import PricingError, cost
from llmtally.usage import ImageUnits, Usage

FILE = """\
provider: acme
name: ACME
pricing_url: https://acme.example/pricing
models:
  - id: big
    prices:
      - source: https://acme.example/pricing
        input: "2"
        cache_read: "0.2"
        cache_write: "2.5"
        cache_write_1h: "4"
        output: "10"
        long_context:
          - {above: 1000, input: "4", output: "15", cache_read: "0.4"}
        batch: {discount: "0.5"}
        flex: {input: "1", output: "5"}
        windows:
          - {start: "16:30", end: "00:30", discount: "0.25"}
  - id: thinker
    prices:
      - {source: "https://acme.example/pricing", input: "1", output: "4", reasoning: "8"}
  - id: voice
    prices:
      - source: https://acme.example/pricing
        audio: {price: "0.006", per: minute, increment_seconds: 1, rounding: nearest}
  - id: ears
    prices:
      - source: https://acme.example/pricing
        audio: {price: "0.111", per: hour, increment_seconds: 1, minimum_seconds: "10"}
  - id: painter
    prices:
      - source: https://acme.example/pricing
        request: "0.01"
        images:
          - {size: 1024x1024, quality: standard, price: "0.04"}
          - {size: 1024x1024, quality: hd, price: "0.08"}
  - id: local
    prices:
      - source: https://acme.example/selfhost
        self_hosted:
          instance: 8xA100
          usd_per_hour: "36"
          input_tokens_per_second: "10000"
          output_tokens_per_second: "1000"
"""

NOON = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    folder: Path = tmp_path_factory.mktemp("prices")
    (folder / "acme.yaml").write_text(FILE)
    return Catalog.load(builtin=folder)


def _price(catalog: Catalog, model: str, at: dt.datetime = NOON) -> Price:
    return catalog.price_at("acme", model, at)


def test_cache_reads_and_writes_are_subsets_of_input(catalog: Catalog) -> None:
    usage = Usage(
        input_tokens=1000,
        cache_read_tokens=500,
        cache_write_tokens=300,
        cache_write_1h_tokens=100,
        output_tokens=100,
    )
    c = cost(usage, _price(catalog, "big"))
    assert c.input == Decimal("200") * 2 / 1_000_000
    assert c.cache_read == Decimal("500") * Decimal("0.2") / 1_000_000
    assert c.cache_write == (200 * Decimal("2.5") + 100 * 4) / Decimal(1_000_000)
    assert c.output == Decimal("0.001")
    assert c.total == Decimal("0.0004") + Decimal("0.0001") + Decimal("0.0009") + Decimal("0.001")


def test_the_long_context_cliff_reprices_the_whole_request(catalog: Catalog) -> None:
    at_limit = cost(Usage(input_tokens=1000, output_tokens=10), _price(catalog, "big"))
    above = cost(
        Usage(input_tokens=1001, cache_read_tokens=501, output_tokens=10), _price(catalog, "big")
    )
    assert at_limit.long_context_above is None
    assert at_limit.total == (1000 * 2 + 10 * 10) / Decimal(1_000_000)
    assert above.long_context_above == 1000
    assert above.total == (500 * 4 + 501 * Decimal("0.4") + 10 * 15) / Decimal(1_000_000)


def test_batch_discount_applies_after_the_cliff(catalog: Catalog) -> None:
    usage = Usage(input_tokens=2000, output_tokens=100, service_tier="batch")
    assert cost(usage, _price(catalog, "big")).total == Decimal("0.5") * (
        2000 * 4 + 100 * 15
    ) / Decimal(1_000_000)


def test_a_tier_with_its_own_rates(catalog: Catalog) -> None:
    usage = Usage(input_tokens=100, output_tokens=100, service_tier="flex")
    assert cost(usage, _price(catalog, "big")).total == Decimal("0.0006")


def test_a_tier_not_offered_is_an_error_not_the_standard_price(catalog: Catalog) -> None:
    usage = Usage(input_tokens=100, service_tier="priority")
    with pytest.raises(
        PricingError, match=r"acme/big has no priority price \(tiers offered: batch, flex\)"
    ):
        cost(usage, _price(catalog, "big"))


@pytest.mark.parametrize(
    ("moment", "discounted"),
    [
        (dt.datetime(2025, 3, 1, 16, 29, tzinfo=dt.UTC), False),
        (dt.datetime(2025, 3, 1, 16, 30, tzinfo=dt.UTC), True),
        (dt.datetime(2025, 3, 1, 23, 59, tzinfo=dt.UTC), True),
        (dt.datetime(2025, 3, 2, 0, 29, tzinfo=dt.UTC), True),
        (dt.datetime(2025, 3, 2, 0, 30, tzinfo=dt.UTC), False),
        (dt.datetime(2025, 3, 2, 1, 29, tzinfo=dt.timezone(dt.timedelta(hours=1))), True),
    ],
)
def test_time_of_day_windows_wrap_midnight_in_utc(
    catalog: Catalog, moment: dt.datetime, discounted: bool
) -> None:
    price = _price(catalog, "big", moment)
    assert price.rates.input == (Decimal("0.5") if discounted else Decimal("2"))
    assert (price.window is not None) is discounted


def test_reasoning_priced_apart_and_inside_output(catalog: Catalog) -> None:
    c = cost(
        Usage(input_tokens=0, output_tokens=1000, reasoning_tokens=400), _price(catalog, "thinker")
    )
    assert c.output == 600 * Decimal(4) / 1_000_000
    assert c.reasoning == 400 * Decimal(8) / 1_000_000


def test_reasoning_falls_back_to_the_output_rate(catalog: Catalog) -> None:
    c = cost(Usage(output_tokens=1000, reasoning_tokens=400), _price(catalog, "big"))
    assert c.reasoning == Decimal("0.004")
    assert c.output == Decimal("0.006")


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [("60", "0.006"), ("90.4", "0.00900"), ("90.5", "0.00910"), ("0.4", "0")],
)
def test_audio_per_minute_rounded_to_the_nearest_second(
    catalog: Catalog, seconds: str, expected: str
) -> None:
    c = cost(Usage(requests=1, audio_seconds=Decimal(seconds)), _price(catalog, "voice"))
    assert c.audio == Decimal(expected)


def test_audio_minimum_charge(catalog: Catalog) -> None:
    short = cost(Usage(audio_seconds=Decimal("3")), _price(catalog, "ears"))
    long = cost(Usage(audio_seconds=Decimal("3600")), _price(catalog, "ears"))
    assert short.audio == Decimal("10") * Decimal("0.111") / 3600
    assert long.audio == Decimal("0.111")


def test_images_by_size_and_quality_plus_request_fee(catalog: Catalog) -> None:
    usage = Usage(requests=2, images=(ImageUnits(3, "1024x1024"), ImageUnits(1, "1024x1024", "hd")))
    c = cost(usage, _price(catalog, "painter"))
    assert c.images == Decimal("0.20")
    assert c.request == Decimal("0.02")


def test_an_unpriced_image_size_is_an_error(catalog: Catalog) -> None:
    usage = Usage(images=(ImageUnits(1, "256x256"),))
    with pytest.raises(PricingError, match="no price for 256x256 standard images"):
        cost(usage, _price(catalog, "painter"))


def test_tokens_on_a_model_without_token_prices_are_an_error(catalog: Catalog) -> None:
    with pytest.raises(PricingError, match="acme/painter has no input price"):
        cost(Usage(input_tokens=10), _price(catalog, "painter"))
    with pytest.raises(PricingError, match="has no audio input price"):
        cost(Usage(input_tokens=10, input_audio_tokens=10), _price(catalog, "big"))
    with pytest.raises(PricingError, match="has no per-duration audio price"):
        cost(Usage(audio_seconds=Decimal(1)), _price(catalog, "big"))


def test_self_hosted_spreads_the_hourly_price_over_throughput(catalog: Catalog) -> None:
    # $36/h over 36M input tokens/h = $1 per 1M; over 3.6M output tokens/h = $10 per 1M.
    c = cost(Usage(input_tokens=1_000_000, output_tokens=1_000_000), _price(catalog, "local"))
    assert c.input == Decimal(1)
    assert c.output == Decimal(10)


def test_time_cost_spreads_the_hourly_price_over_the_call(catalog: Catalog) -> None:
    from llmtally.meter import time_cost

    price = _price(catalog, "local")
    c = time_cost(price, Decimal("36"), Decimal("0.5"), Decimal("2"))
    assert (c.input, c.output, c.total) == (Decimal("0.005"), Decimal("0.02"), Decimal("0.025"))
    with pytest.raises(PricingError, match="negative call time"):
        time_cost(price, Decimal("36"), Decimal("-1"), Decimal("0"))
