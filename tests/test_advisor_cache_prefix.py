"""Cache-prefix advice: hand-computed savings at real catalog prices.

Prices (USD per 1M tokens) from src/llmtally/catalog/data:
claude-sonnet-4: input 3.00, 5m write 3.75, 1h write 6.00, read 0.30, output 15.00;
gpt-4o (from 2024-10-02): input 2.50, cache read 1.25, output 10.00.
Every call below: prefix P system tokens + 100 other prompt tokens, 100 output tokens.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from llmtally.advisor import Advice, advise
from llmtally.advisor.cache_prefix import cache_change, minimum_prefix_tokens
from llmtally.advisor.prompt_cache import prompt_cache_recommender
from llmtally.advisor.working import CellState
from llmtally.catalog import Catalog
from llmtally.ledger import open_store
from llmtally.meter import cost
from llmtally.usage import Call, Usage

START = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
DAY = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
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


@pytest.fixture
def run(tmp_path: Path) -> Callable[..., Advice]:
    """Store ``calls`` in a new SQLite ledger; advise over ``days`` days from the
    day they start, with the prompt-cache recommender alone and no floor."""
    counter = iter(range(1000))

    def go(calls: list[Call], days: int = 1) -> Advice:
        url = f"sqlite:///{tmp_path / f'ledger{next(counter)}.sqlite3'}"
        with open_store(url) as store:
            store.insert_many(calls)
            until = DAY + dt.timedelta(days=days)
            return advise(store, CATALOG, DAY, until, Decimal(0), [prompt_cache_recommender])

    return go


def test_sonnet_every_minute_one_write_nine_reads(run: Callable[..., Advice]) -> None:
    # Current per call: 2,100 x $3/1M + 100 x $15/1M = 0.0063 + 0.0015 = $0.0078; 10 calls $0.078.
    # 5m: call 1 writes 2,000 at 3.75 instead of 3.00: +2,000 x 0.75/1M = +$0.0015;
    #     calls 2-10 read 2,000 at 0.30: -2,000 x 2.70/1M = -$0.0054 each, x9 = $0.0486.
    #     saving 0.0486 - 0.0015 = $0.0471.
    # 1h: the write at 6.00: +2,000 x 3/1M = +$0.006; saving 0.0486 - 0.006 = $0.0426. 5m wins.
    # Monthly from 1 day: 0.0471 x 30 = $1.413.
    (advice,) = run(
        _calls("anthropic", "claude-sonnet-4", 2000, dt.timedelta(minutes=1))
    ).recommendations
    assert advice.kind == "prompt_cache"
    assert advice.evidence["ttl"] == "5m"
    assert advice.period_saving == Decimal("0.0471")
    assert advice.monthly_saving == Decimal("1.413")
    assert advice.evidence["hit_rate"] == "0.900"
    assert (advice.evidence["reads"], advice.evidence["writes"]) == ("9", "1")
    assert "the 5m TTL saves more than 1h (0.0426)" in advice.evidence["why"]
    assert advice.call_ids[0] == "c00" and len(advice.call_ids) == 10
    assert advice.where["fingerprint"] == "fp1" and advice.calls == 10


def test_sonnet_every_ten_minutes_one_hour_ttl_wins(run: Callable[..., Advice]) -> None:
    # 5m: every gap (10 min) exceeds the TTL: 10 writes at +$0.0015 each = -$0.015.
    # 1h: 1 write at +$0.006, 9 reads at -$0.0054 = 0.0486 - 0.006 = $0.0426; x30 = $1.278.
    (advice,) = run(
        _calls("anthropic", "claude-sonnet-4", 2000, dt.timedelta(minutes=10))
    ).recommendations
    assert advice.evidence["ttl"] == "1h"
    assert advice.period_saving == Decimal("0.0426")
    assert advice.monthly_saving == Decimal("1.278")
    assert '"ttl": "1h"' in advice.how_to_apply
    assert "the 1h TTL saves more than 5m (-0.015)" in advice.evidence["why"]


def test_sonnet_every_two_hours_every_call_writes_not_recommended(
    run: Callable[..., Advice],
) -> None:
    # 10 calls 2 h apart from 09:00 reach into the next day: a 2-day period.
    # 5m: 10 writes x +$0.0015 = -$0.015; 1h: 10 writes x +$0.006 = -$0.06. Best -$0.015,
    # x30/2 = -$0.225 a month.
    advice = run(_calls("anthropic", "claude-sonnet-4", 2000, dt.timedelta(hours=2)), days=2)
    assert advice.recommendations == ()
    (left,) = advice.considered
    assert left.kind == "prompt_cache" and left.monthly_saving == Decimal("-0.225")
    assert "10 writes and 0 reads" in left.reason
    assert "caching would cost 0.015 USD more" in left.reason


def test_prefix_under_minimum_not_considered(run: Callable[..., Advice]) -> None:
    under = run(_calls("anthropic", "claude-sonnet-4", 500, dt.timedelta(minutes=1)))
    assert under.recommendations == () and under.considered == ()
    # Haiku 3.5 needs 2,048: a 1,500-token prefix is not considered either.
    haiku = run(_calls("anthropic", "claude-3-5-haiku", 1500, dt.timedelta(minutes=1)))
    assert haiku.recommendations == () and haiku.considered == ()


def test_openai_reads_at_half_price_no_write_premium(run: Callable[..., Advice]) -> None:
    # gpt-4o: call 1 is a write at the normal input rate (no change); calls 2-10 read
    # 1,500 tokens at 1.25 instead of 2.50: 1,500 x 1.25/1M = $0.001875 each, x9 = $0.016875.
    # Monthly from 1 day: 0.016875 x 30 = $0.50625.
    (advice,) = run(_calls("openai", "gpt-4o", 1500, dt.timedelta(minutes=1))).recommendations
    assert advice.evidence["ttl"] == "5m"
    assert (advice.evidence["reads"], advice.evidence["writes"]) == ("9", "1")
    assert "saves more than" not in advice.evidence["why"]  # one TTL offered
    assert advice.period_saving == Decimal("0.016875")
    assert advice.monthly_saving == Decimal("0.50625")
    assert "identical" in advice.how_to_apply


def test_monthly_scaled_from_period_days(run: Callable[..., Advice]) -> None:
    # The 1-minute sonnet case over a 3-day period: 0.0471 x 30 / 3 = $0.471.
    calls = _calls("anthropic", "claude-sonnet-4", 2000, dt.timedelta(minutes=1))
    (advice,) = run(calls, days=3).recommendations
    assert advice.monthly_saving == Decimal("0.471")


def test_calls_already_reading_counted_as_they_are(run: Callable[..., Advice]) -> None:
    # Calls 2-10 already read the 2,000-token prefix: only call 1 could change, and as a
    # write it costs +$0.0015 (5m) / +$0.006 (1h): nothing to save, not recommended.
    # x30: -$0.045 a month.
    calls = _calls("anthropic", "claude-sonnet-4", 2000, dt.timedelta(minutes=1))
    price = CATALOG.price_at("anthropic", "claude-sonnet-4", START)
    reading = Usage(input_tokens=2100, output_tokens=100, cache_read_tokens=2000)
    calls = [calls[0], *(replace(c, usage=reading, cost=cost(reading, price)) for c in calls[1:])]
    (left,) = run(calls).considered
    assert left.monthly_saving == Decimal("-0.045")
    assert "1 writes and 9 reads" in left.reason


def test_exactly_one_ttl_apart_reads(run: Callable[..., Advice]) -> None:
    # Gaps of exactly 5 min are within the TTL ("at most one TTL"): 1 write + 9 reads,
    # as with the 1-minute gaps: $0.0471 (the 1h TTL, same reads, costlier write: $0.0426).
    (advice,) = run(
        _calls("anthropic", "claude-sonnet-4", 2000, dt.timedelta(minutes=5))
    ).recommendations
    assert advice.period_saving == Decimal("0.0471") and advice.evidence["ttl"] == "5m"


def test_calls_without_fingerprint_or_cost_are_left_out(run: Callable[..., Advice]) -> None:
    # Only c00 and c01 form the group: 1 write (+$0.0015) + 1 read ($0.0054) = $0.0039.
    calls = _calls("anthropic", "claude-sonnet-4", 2000, dt.timedelta(minutes=1), n=4)
    bare = replace(calls[2], prompt_fingerprint=None)
    unpriced = replace(calls[3], cost=None, cost_error="no price")
    (advice,) = run([calls[0], calls[1], bare, unpriced]).recommendations
    assert advice.period_saving == Decimal("0.0039")
    assert advice.calls == 2


def test_minimum_table() -> None:
    assert minimum_prefix_tokens("anthropic", "claude-sonnet-4") == 1024
    assert minimum_prefix_tokens("anthropic", "claude-3-5-haiku") == 2048
    assert minimum_prefix_tokens("anthropic", "claude-haiku-4-5") == 4096
    assert minimum_prefix_tokens("openai", "gpt-4o") == 1024
    assert minimum_prefix_tokens("google", "gemini-2.5-flash") == 2048
    assert minimum_prefix_tokens("google", "gemini-3-pro-preview") == 4096
    assert minimum_prefix_tokens("mistral", "mistral-large") is None


def test_cache_change_bills_writes_only_where_priced() -> None:
    state = CellState(Usage(input_tokens=4200, requests=2), 2, 2100, "anthropic", "m")
    hour = cache_change(2000, 2000, "1h", "anthropic")(state).usage
    assert (hour.cache_read_tokens, hour.cache_write_tokens, hour.cache_write_1h_tokens) == (
        2000,
        2000,
        2000,
    )
    implicit = cache_change(2000, 2000, "5m", "openai")(state).usage
    assert (implicit.cache_read_tokens, implicit.cache_write_tokens) == (2000, 0)
