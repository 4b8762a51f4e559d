"""The dashboard's time charts: bars as wide as their bucket, in its middle, on
a date axis that spans the filtered range (never sub-millisecond ticks around
a single bar). Expected values are written out by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from llmtally.analytics.explorer import SpendPoint
from llmtally.analytics.overview import ModelDay
from llmtally.web.charts import spend_figure
from llmtally.web.overview_charts import daily_figure

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 28, 15, 30, tzinfo=UTC)
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def test_one_day_of_data_is_one_day_wide_bar_on_a_week_of_dates() -> None:
    points = [SpendPoint("2026-11-28", 3, Decimal("0.0122324964"), 0)]
    figure = spend_figure(points, "day", None, NOW)
    bars = figure["data"][0]
    assert bars["x"] == ["2026-11-28 12:00:00"]  # the middle of the day
    assert bars["width"] == 0.8 * DAY_MS
    assert bars["hovertext"] == ["2026-11-28<br>$0.01 (exactly $0.0122324964)<br>3 calls"]
    # the axis: at least 7 days, ending with the data's day
    assert figure["layout"]["xaxis"] == {
        "type": "date",
        "range": ["2026-11-22 00:00:00", "2026-11-29 00:00:00"],
    }
    assert figure["layout"]["yaxis"]["tickformat"] == "$,.3~r"


def test_hour_bars_span_the_filter() -> None:
    points = [SpendPoint("2026-11-28 09:00", 1, Decimal("0.5"), 0)]
    since = dt.datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
    figure = spend_figure(points, "hour", since, NOW)
    assert figure["data"][0]["x"] == ["2026-11-28 09:30:00"]
    assert figure["data"][0]["width"] == 0.8 * HOUR_MS
    assert figure["layout"]["xaxis"]["range"] == ["2026-11-27 15:30:00", "2026-11-28 15:30:00"]


def test_a_short_filter_still_shows_a_day_of_hours() -> None:
    points = [SpendPoint("2026-11-28 15:00", 1, Decimal("0.5"), 0)]
    since = dt.datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
    figure = spend_figure(points, "hour", since, NOW)
    # the bucket 15:00-16:00 ends after NOW: the axis holds it, and is 24 hours wide
    assert figure["layout"]["xaxis"]["range"] == ["2026-11-27 16:00:00", "2026-11-28 16:00:00"]


def test_the_overview_daily_chart_spans_its_30_days() -> None:
    days = [ModelDay(dt.date(2026, 11, 28), "gpt-4o", Decimal("1.5"), 2)]
    since, until = dt.datetime(2026, 10, 30, tzinfo=UTC), dt.datetime(2026, 11, 29, tzinfo=UTC)
    figure = daily_figure(days, since, until)
    assert figure["data"][0]["x"] == ["2026-11-28 12:00:00"]
    assert figure["data"][0]["width"] == 0.8 * DAY_MS
    assert figure["layout"]["xaxis"]["range"] == ["2026-10-30 00:00:00", "2026-11-29 00:00:00"]
    assert figure["layout"]["yaxis"]["tickformat"] == "$,.3~r"
