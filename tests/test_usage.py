"""Usage: totals and subsets, and the precise errors for impossible records."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from llmtally.usage import ImageUnits, Usage, UsageError, stable_ulid


def test_uncached_input_is_total_less_cache_reads_and_writes() -> None:
    usage = Usage(input_tokens=1000, cache_read_tokens=600, cache_write_tokens=300)
    assert usage.uncached_input_tokens == 100
    assert usage.total_tokens == 1000


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_tokens": -1}, "input_tokens must be >= 0, got -1"),
        ({"output_tokens": 1.5}, "output_tokens must be a whole number, got 1.5"),
        ({"output_tokens": True}, "output_tokens must be a whole number, got True"),
        ({"input_tokens": "10"}, "input_tokens must be a whole number, got '10'"),
        (
            {"input_tokens": 10, "cache_read_tokens": 8, "cache_write_tokens": 5},
            "cache_read_tokens + cache_write_tokens = 13 exceeds input_tokens = 10",
        ),
        (
            {"input_tokens": 10, "cache_write_tokens": 2, "cache_write_1h_tokens": 3},
            "cache_write_1h_tokens = 3 exceeds cache_write_tokens = 2",
        ),
        (
            {"output_tokens": 5, "reasoning_tokens": 6},
            "reasoning_tokens + output_audio_tokens + output_image_tokens = 6 exceeds "
            "output_tokens = 5",
        ),
        ({"audio_seconds": Decimal("-1")}, "audio_seconds must be >= 0, got -1"),
        ({"service_tier": "cheap"}, "service_tier must be one of standard, batch, flex, priority"),
        ({"source": "guessed"}, "source must be 'reported' or 'estimated'"),
    ],
)
def test_impossible_usage_is_refused_with_the_reason(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError) as info:
        Usage(**kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_image_units_refuse_negative_counts_and_missing_size() -> None:
    with pytest.raises(UsageError, match="images.n must be a whole number >= 0"):
        ImageUnits(-2, "1024x1024")
    with pytest.raises(UsageError, match="images.size must name a size"):
        ImageUnits(1, "")


def test_to_dict_keeps_only_what_was_set() -> None:
    usage = Usage(
        input_tokens=5,
        images=(ImageUnits(2, "1024x1024", "hd"),),
        audio_seconds=Decimal("1.5"),
        service_tier="batch",
    )
    assert usage.to_dict() == {
        "input_tokens": 5,
        "images": [{"n": 2, "size": "1024x1024", "quality": "hd"}],
        "audio_seconds": "1.5",
        "service_tier": "batch",
    }


def test_stable_ulid_is_the_same_for_the_same_source_id_and_sorts_by_time() -> None:
    at = dt.datetime(2026, 12, 6, 12, 0, 0, 123000, tzinfo=dt.UTC)
    first = stable_ulid(at, "otel", "span-1")
    assert first == stable_ulid(at, "otel", "span-1")
    assert first != stable_ulid(at, "otel", "span-2") != stable_ulid(at, "litellm", "span-1")
    # the first 10 characters are the milliseconds since 1970: 1,796,558,400,123 here
    assert first[:10] == "01M95KKAKV"
    later = stable_ulid(at + dt.timedelta(milliseconds=1), "otel", "span-0")
    assert len(first) == 26 and later > first
    with pytest.raises(ValueError, match="timezone-aware"):
        stable_ulid(at.replace(tzinfo=None), "otel", "span-1")
