"""``GatewayMetrics.observe`` looks each labelled series up once and keeps it: a
series still appears on its first use only, and repeated calls add up."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from prometheus_client.parser import text_string_to_metric_families

from llmtally.catalog import Catalog
from llmtally.gateway.metrics import GatewayMetrics
from llmtally.meter import cost
from llmtally.usage import Call, Usage

AT = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)


def _call(priced: bool, ttft_ms: float | None) -> Call:
    usage = Usage(100, output_tokens=20)
    price = Catalog.load().price_at("openai", "gpt-4o", AT) if priced else None
    return Call(
        id="01M96F10E4P0RBAA3K84000001",
        started_at=AT,
        provider="openai",
        model_requested="gpt-4o",
        model_served=None,
        endpoint="/v1/chat/completions",
        status=200,
        latency_ms=500.0,
        usage=usage,
        cost=cost(usage, price) if price is not None else None,
        ttft_ms=ttft_ms,
    )


def _samples(metrics: GatewayMetrics) -> dict[str, float]:
    page = metrics.render()[0].decode()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


def test_series_appear_on_first_use_and_add_up() -> None:
    metrics = GatewayMetrics()
    metrics.observe(_call(priced=True, ttft_ms=None))
    first = _samples(metrics)
    assert not any(name.startswith("llmtally_unpriced_calls") for name in first)
    assert not any(name.startswith("llmtally_time_to_first_token") for name in first)
    metrics.observe(_call(priced=False, ttft_ms=120.0))
    metrics.observe(_call(priced=True, ttft_ms=None))
    page = _samples(metrics)
    pair = "model=gpt-4o,provider=openai"
    assert page[f"llmtally_calls_total{{{pair},status_class=2xx}}"] == 3
    assert page[f"llmtally_unpriced_calls_total{{{pair}}}"] == 1
    assert page[f"llmtally_time_to_first_token_seconds_count{{{pair}}}"] == 1
    assert page[f"llmtally_tokens_total{{kind=input,{pair}}}"] == 300  # 3 x 100
    assert page[f"llmtally_tokens_total{{kind=output,{pair}}}"] == 60  # 3 x 20
    assert not any("kind=reasoning" in name for name in page)  # never counted: no series
    # gpt-4o: $2.50 per million input, $10 per million output (the catalog's, checked
    # in test_cost_cases): 100 x 2.5e-6 + 20 x 10e-6 = 0.00045 a call, two priced
    assert Decimal(str(page[f"llmtally_cost_usd_total{{{pair}}}"])) == Decimal("0.0009")
    assert page[f"llmtally_latency_seconds_count{{{pair}}}"] == 3
