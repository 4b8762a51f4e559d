"""Cache-prefix advice: hand-computed savings at real catalog prices.

Prices (USD per 1M tokens) from src/llmtally/catalog/data:
claude-sonnet-4: input 3.00, 5m write 3.75, 1h write 6.00, read 0.30, output 15.00;
gpt-4o (from 2024-10-02): input 2.50, cache read 1.25, output 10.00.
Every call below: prefix P system tokens + 100 other prompt tokens, 100 output tokens.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from llmtally.advisor.cache_prefix import (
    CachePrefixAdvice,
    PrefixCall,
    PrefixGroup,
    advise_cache_prefix,
    cached_usage,
    group_by_fingerprint,
    minimum_prefix_tokens,
)
from llmtally.catalog import Catalog
from llmtally.meter import cost
from llmtally.usage import Call, Usage

START = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
CATALOG = Catalog.load()


def _calls(provider: str, model: str, prefix: int, gap: dt.timedelta, n: int = 10) -> list[Call]:
    price = CATALOG.price_at(provider, model, START)
    out = []
    for i in range(n):
        usage = Usage(input_tokens=prefix + 100, output_tokens=100)
        out.append(
            Call(
                id=f"c{i:02d}",
                started_at=START + i * gap,
                provider=provider,
                model_requested=model,
                model_served=model,
                endpoint="/v1/messages",
                status=200,
                latency_ms=100.0,
                usage=usage,
                cost=cost(usage, price),
                input_system_tokens=prefix,
                input_tools_tokens=0,
                prompt_fingerprint="fp1",
            )
        )
    return out


def _advise(calls: list[Call], days: int = 1) -> list[CachePrefixAdvice]:
    return advise_cache_prefix(group_by_fingerprint(calls), days)


def test_sonnet_every_minute_one_write_nine_reads() -> None:
    # Current per call: 2,100 x $3/1M + 100 x $15/1M = 0.0063 + 0.0015 = $0.0078; 10 calls $0.078.
    # 5m: call 1 writes 2,000 at 3.75 instead of 3.00: +2,000 x 0.75/1M = +$0.0015;
    #     calls 2-10 read 2,000 at 0.30: -2,000 x 2.70/1M = -$0.0054 each, x9 = $0.0486.
    #     saving 0.0486 - 0.0015 = $0.0471.
    # 1h: the write at 6.00: +2,000 x 3/1M = +$0.006; saving 0.0486 - 0.006 = $0.0426. 5m wins.
    # Monthly from 1 day: 0.0471 x 30 = $1.413.
    (advice,) = _advise(_calls("anthropic", "claude-sonnet-4", 2000, dt.timedelta(minutes=1)))
    assert advice.status == "recommended"
    assert advice.ttl == "5m"
    assert advice.period_saving == Decimal("0.0471")
    assert advice.monthly_saving == Decimal("1.413")
    assert advice.current_cost == Decimal("0.078")
    assert advice.simulated_cost == Decimal("0.0309")
    assert advice.hit_rate == Decimal("0.9")
    five, hour = advice.options
    assert (five.ttl, five.reads, five.writes) == ("5m", 9, 1)
    assert hour.saving == Decimal("0.0426")
    assert '"cache_control": {"type": "ephemeral"}' in advice.how_to_apply
    assert advice.call_ids[0] == "c00" and len(advice.call_ids) == 10


def test_sonnet_every_ten_minutes_one_hour_ttl_wins() -> None:
    # 5m: every gap (10 min) exceeds the TTL: 10 writes at +$0.0015 each = -$0.015.
    # 1h: 1 write at +$0.006, 9 reads at -$0.0054 = 0.0486 - 0.006 = $0.0426; x30 = $1.278.
    (advice,) = _advise(_calls("anthropic", "claude-sonnet-4", 2000, dt.timedelta(minutes=10)))
    assert advice.status == "recommended"
    assert advice.ttl == "1h"
    assert advice.options[0].saving == Decimal("-0.015")
    assert advice.period_saving == Decimal("0.0426")
    assert advice.monthly_saving == Decimal("1.278")
    assert '"ttl": "1h"' in advice.how_to_apply
    assert "1h TTL saves more than 5m" in advice.reason


def test_sonnet_every_two_hours_every_call_writes_not_recommended() -> None:
    # 5m: 10 writes x +$0.0015 = -$0.015; 1h: 10 writes x +$0.006 = -$0.06. Best -$0.015.
    (advice,) = _advise(_calls("anthropic", "claude-sonnet-4", 2000, dt.timedelta(hours=2)))
    assert advice.status == "not_recommended"
    assert advice.ttl == "5m"
    assert advice.period_saving == Decimal("-0.015")
    assert advice.options[1].saving == Decimal("-0.06")
    assert advice.hit_rate == 0
    assert "10 writes and 0 reads" in advice.reason


def test_prefix_under_minimum_not_considered() -> None:
    assert _advise(_calls("anthropic", "claude-sonnet-4", 500, dt.timedelta(minutes=1))) == []
    # Haiku 3.5 needs 2,048: a 1,500-token prefix is not considered either.
    assert _advise(_calls("anthropic", "claude-3-5-haiku", 1500, dt.timedelta(minutes=1))) == []


def test_openai_reads_at_half_price_no_write_premium() -> None:
    # gpt-4o: call 1 is a write at the normal input rate (no change); calls 2-10 read
    # 1,500 tokens at 1.25 instead of 2.50: 1,500 x 1.25/1M = $0.001875 each, x9 = $0.016875.
    # Monthly from 1 day: 0.016875 x 30 = $0.50625.
    (advice,) = _advise(_calls("openai", "gpt-4o", 1500, dt.timedelta(minutes=1)))
    assert advice.status == "recommended"
    assert advice.ttl == "5m"
    assert len(advice.options) == 1
    assert (advice.options[0].reads, advice.options[0].writes) == (9, 1)
    assert advice.period_saving == Decimal("0.016875")
    assert advice.monthly_saving == Decimal("0.50625")
    assert "identical" in advice.how_to_apply


def test_monthly_scaled_from_period_days() -> None:
    # The 1-minute sonnet case over a 3-day period: 0.0471 x 30 / 3 = $0.471.
    calls = _calls("anthropic", "claude-sonnet-4", 2000, dt.timedelta(minutes=1))
    (advice,) = _advise(calls, days=3)
    assert advice.monthly_saving == Decimal("0.471")
    with pytest.raises(ValueError, match="period_days"):
        _advise(calls, days=0)


def test_calls_already_reading_counted_as_they_are() -> None:
    # Calls 2-10 already read the 2,000-token prefix: only call 1 could change, and as a
    # write it costs +$0.0015 (5m) / +$0.006 (1h): nothing to save, not recommended.
    price = CATALOG.price_at("anthropic", "claude-sonnet-4", START)
    calls = []
    for i in range(10):
        usage = Usage(input_tokens=2100, output_tokens=100, cache_read_tokens=2000 if i else 0)
        calls.append(
            PrefixCall(
                f"c{i}",
                START + dt.timedelta(minutes=i),
                2000,
                usage,
                cost(usage, price).total,
                price,
            )
        )
    group = PrefixGroup("fp", "anthropic", "claude-sonnet-4", tuple(calls))
    (advice,) = advise_cache_prefix([group], 1)
    assert advice.status == "not_recommended"
    assert advice.period_saving == Decimal("-0.0015")
    assert advice.options[0].unchanged == 9
    assert advice.hit_rate == Decimal("0.9")


def test_out_of_order_calls_are_replayed_in_time_order() -> None:
    # The same 10 one-minute calls, given newest first: still 1 write + 9 reads, $0.0471.
    calls = _calls("anthropic", "claude-sonnet-4", 2000, dt.timedelta(minutes=1))[::-1]
    (advice,) = _advise(calls)
    assert advice.period_saving == Decimal("0.0471")
    assert advice.call_ids[0] == "c00"


def test_grouping_skips_calls_without_fingerprint_or_cost() -> None:
    calls = _calls("anthropic", "claude-sonnet-4", 2000, dt.timedelta(minutes=1), n=2)
    bare = replace(calls[0], prompt_fingerprint=None)
    unpriced = replace(calls[0], cost=None, cost_error="no price")
    groups = group_by_fingerprint([*calls, bare, unpriced])
    assert [(g.fingerprint, len(g.calls)) for g in groups] == [("fp1", 2)]
    assert groups[0].calls[0].prefix_tokens == 2000


def test_minimum_table() -> None:
    assert minimum_prefix_tokens("anthropic", "claude-sonnet-4") == 1024
    assert minimum_prefix_tokens("anthropic", "claude-3-5-haiku") == 2048
    assert minimum_prefix_tokens("anthropic", "claude-haiku-4-5") == 4096
    assert minimum_prefix_tokens("openai", "gpt-4o") == 1024
    assert minimum_prefix_tokens("google", "gemini-2.5-flash") == 2048
    assert minimum_prefix_tokens("google", "gemini-3-pro-preview") == 4096
    assert minimum_prefix_tokens("mistral", "mistral-large") is None


def test_plan_gives_each_call_its_action() -> None:
    # 10-minute gaps, 1h chosen: c00 writes, c01..c09 read the 2,000-token prefix.
    (advice,) = _advise(_calls("anthropic", "claude-sonnet-4", 2000, dt.timedelta(minutes=10)))
    assert [p.action for p in advice.plan] == ["write"] + ["read"] * 9
    assert {p.tokens for p in advice.plan} == {2000}
    write = cached_usage(Usage(input_tokens=2100), 2000, "write", "1h", "anthropic")
    assert (write.cache_write_tokens, write.cache_write_1h_tokens) == (2000, 2000)
    assert (
        cached_usage(Usage(input_tokens=2100), 2000, "write", "5m", "openai").cache_write_tokens
        == 0
    )
