"""The explorer's totals and chart read from the rollups (filters on time,
provider and model) equal the same figures read from ``calls``, on SQLite and
PostgreSQL; other filters read ``calls``."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from llmtally.analytics.explorer import raw_series, raw_totals, spend_series, totals
from llmtally.analytics.explorer_rollups import uses_rollups
from llmtally.analytics.filters import CallFilter
from llmtally.ledger import Store
from test_ledger_support import db_url, pg_base_url, store  # noqa: F401
from test_rollups import START, random_call

UTC = dt.UTC
FILTERS = [
    CallFilter(),
    CallFilter(since=START + dt.timedelta(minutes=47)),
    CallFilter(since=START + dt.timedelta(hours=5, minutes=1), until=START + dt.timedelta(days=2)),
    CallFilter(since=dt.datetime(2026, 11, 1, tzinfo=UTC), model="gpt-4o-mini"),
    CallFilter(provider="anthropic", until=dt.datetime(2026, 11, 2, 3, 30, tzinfo=UTC)),
    CallFilter(model="gpt-4o-1", since=START, until=START + dt.timedelta(hours=2)),
    CallFilter(model="no-such-model"),
]


@pytest.fixture
def filled(store: Store) -> Store:  # noqa: F811
    rng = random.Random(11)
    store.insert_many([random_call(rng) for _ in range(400)])
    return store


@pytest.mark.parametrize("where", FILTERS)
def test_rollup_totals_and_series_equal_calls(filled: Store, where: CallFilter) -> None:
    assert uses_rollups(where)
    found = totals(filled, where)
    assert found == raw_totals(filled, where)
    assert all(type(getattr(found, n)) is int for n in ("calls", "input_tokens", "errors"))
    for bucket in ("hour", "day"):
        assert spend_series(filled, where, bucket) == raw_series(filled, where, bucket)


def test_other_filters_read_calls(filled: Store) -> None:
    where = CallFilter(user="alice", since=START)
    assert not uses_rollups(where)
    found = totals(filled, where)
    assert found == raw_totals(filled, where) and 0 < found.calls < 400
