"""The explorer's queries and the explorer page on SQLite and PostgreSQL:
totals equal hand-written SQL, keyset pages cover every call once (ties
included), filters match exactly, traces form trees (loops included)."""

from __future__ import annotations

import datetime as dt
import html
import re
from decimal import Decimal
from typing import Any

import pytest

from browser_support import NOW, TRACE, Seeded, dashboard, fetch, seed, sql_time, sql_totals
from llmtally.analytics.explorer import (
    Cursor,
    call_page,
    has_calls,
    pick_bucket,
    spend_series,
    totals,
    trace_tree,
)
from llmtally.analytics.filters import CallFilter, FilterError, parse_since
from llmtally.ledger import Store
from money_support import written
from test_ledger_support import db_url, full_call, pg_base_url, simple_call, store  # noqa: F401

DAY_AGO = NOW - dt.timedelta(days=1)
# (query parameters, the same set in SQL, SQL parameters)
CASES: list[tuple[dict[str, str], str, dict[str, Any]]] = [
    ({"since": "all"}, "1=1", {}),
    ({}, "started_at >= :s", {"s": NOW - dt.timedelta(days=7)}),
    ({"since": "24h"}, "started_at >= :s", {"s": DAY_AGO}),
    ({"since": "2d", "until": "1d"}, "started_at >= :s AND started_at < :u", {}),
    ({"since": "all", "model": "gpt-4o-mini"}, "model_served = 'gpt-4o-mini'", {}),
    ({"since": "all", "user": "bob", "status": "error"}, "user_id = 'bob' AND status >= 400", {}),
    ({"since": "all", "status": "ok"}, "status < 400", {}),
    ({"since": "all", "status": "429"}, "status = 429", {}),
    ({"since": "all", "feature": "chat", "provider": "openai"}, "feature = 'chat'", {}),
    ({"since": "all", "trace": TRACE}, f"trace_id = '{TRACE}'", {}),
    ({"since": "all", "key": "key_01"}, "key_id = 'key_01'", {}),
]


@pytest.fixture
def seeded(store: Store) -> Seeded:  # noqa: F811
    return seed(store)


def _sql_params(store: Store, query: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    if query.get("until") == "1d":
        params = {"s": NOW - dt.timedelta(days=2), "u": DAY_AGO}
    return {name: sql_time(store, value) for name, value in params.items()}


@pytest.mark.parametrize(("query", "where", "params"), CASES)
def test_totals_equal_plain_sql(
    store: Store,  # noqa: F811
    seeded: Seeded,
    query: dict[str, str],
    where: str,
    params: dict[str, Any],
) -> None:
    want = sql_totals(store, where, **_sql_params(store, query, params))
    assert want.calls > 0
    got = totals(store, CallFilter.from_params(query, NOW, "7d"))
    assert (got.calls, got.input_tokens, got.output_tokens, got.cost_total, got.errors) == (
        want.calls,
        want.input_tokens,
        want.output_tokens,
        want.cost,
        want.errors,
    )
    assert isinstance(got.cost_total, Decimal)


def _shown_money(body: str, element: str) -> tuple[str, Decimal]:
    """The amount as shown (``$0.01``) and the exact one in its hover title."""
    found = re.search(rf'id="{element}"[^>]*><span class="money" title="([^"]*)">([^<]*)<', body)
    assert found, element
    exact = html.unescape(found.group(1)).removeprefix("$")
    return html.unescape(found.group(2)), Decimal(exact)


def _shown(body: str, element: str) -> str:
    found = re.search(rf'id="{element}"[^>]*>([^<]*)<', body)
    assert found, element
    return html.unescape(found.group(1)).replace(",", "").removeprefix("$")


@pytest.mark.parametrize(("query", "where", "params"), CASES[:6])
def test_the_explorer_page_shows_the_sql_totals(
    store: Store,  # noqa: F811
    seeded: Seeded,
    query: dict[str, str],
    where: str,
    params: dict[str, Any],
) -> None:
    want = sql_totals(store, where, **_sql_params(store, query, params))
    web = dashboard(store)
    try:
        body = fetch(web, "/calls", params=query).text
    finally:
        web.close()
    assert int(_shown(body, "total-calls")) == want.calls
    assert int(_shown(body, "total-input")) == want.input_tokens
    assert int(_shown(body, "total-output")) == want.output_tokens
    assert _shown_money(body, "total-cost") == (written(want.cost), want.cost)
    assert int(_shown(body, "total-errors")) == want.errors


def test_keyset_pages_cover_every_call_once_even_with_ties(store: Store) -> None:  # noqa: F811
    same = NOW - dt.timedelta(hours=1)
    found = [simple_call(i, started_at=same) for i in range(9)]  # nine calls, one instant
    found += [simple_call(i, started_at=same - dt.timedelta(seconds=i)) for i in range(1, 12)]
    store.insert_many(found)
    everything = CallFilter()
    seen: list[str] = []
    before: Cursor | None = None
    for _ in range(10):
        page = call_page(store, everything, before, limit=7)
        seen += [c.id for c in page.calls]
        if page.next is None:
            break
        before = Cursor.parse(page.next.text())  # through the URL form, as the page does
    expected = sorted(found, key=lambda c: (c.started_at, c.id), reverse=True)
    assert seen == [c.id for c in expected]


def test_tags_match_exactly_and_case_sensitively(store: Store) -> None:  # noqa: F811
    tagged = {
        "Beta": full_call(tags=("Beta",)),
        "beta": full_call(tags=("beta", "x")),
        "50%_off": full_call(tags=("50%_off",)),
        'say "hi"': full_call(tags=('say "hi"', "ü")),
        "ü": full_call(tags=("ü",)),
    }
    store.insert_many([*tagged.values(), full_call(tags=())])
    for tag, call in tagged.items():
        page = call_page(store, CallFilter(tag=tag))
        expected = {call.id} | ({tagged['say "hi"'].id} if tag == "ü" else set())
        assert {c.id for c in page.calls} == expected, tag
    for partial in ("50", "bet", "off", '"'):
        assert call_page(store, CallFilter(tag=partial)).calls == [], partial


def test_spend_series_adds_up_to_the_totals(store: Store, seeded: Seeded) -> None:  # noqa: F811
    for query in ({"since": "24h"}, {"since": "all"}):
        where = CallFilter.from_params(query, NOW)
        bucket = pick_bucket(where, NOW)
        points = spend_series(store, where, bucket)
        total = totals(store, where)
        assert sum(p.calls for p in points) == total.calls
        assert sum(p.cost_total for p in points) == total.cost_total
        assert sum(p.errors for p in points) == total.errors
        assert [p.bucket for p in points] == sorted(p.bucket for p in points)
        width = len("2026-11-28 09:00") if bucket == "hour" else len("2026-11-28")
        assert {len(p.bucket) for p in points} == {width}
    assert pick_bucket(CallFilter.from_params({"since": "24h"}, NOW), NOW) == "hour"
    assert pick_bucket(CallFilter.from_params({"since": "30d"}, NOW), NOW) == "day"


def test_a_trace_is_a_tree_and_loops_still_show(store: Store) -> None:  # noqa: F811
    a, b = full_call(trace_id="loop"), full_call(trace_id="loop")
    a = full_call(id=a.id, trace_id="loop", parent_id=b.id, started_at=NOW)
    b = full_call(id=b.id, trace_id="loop", parent_id=a.id, started_at=NOW)
    c = full_call(trace_id="loop", parent_id=a.id, started_at=NOW + dt.timedelta(seconds=1))
    self_parent = full_call(trace_id="loop", started_at=NOW + dt.timedelta(seconds=2))
    self_parent = full_call(id=self_parent.id, trace_id="loop", parent_id=self_parent.id)
    store.insert_many([a, b, c, self_parent])
    trace = trace_tree(store, "loop")
    assert trace is not None
    ids = [row.call.id for row in trace.rows]
    assert sorted(ids) == sorted(x.id for x in (a, b, c, self_parent))  # each once
    depth = {row.call.id: row.depth for row in trace.rows}
    assert depth[c.id] == depth[a.id] + 1
    assert trace.totals.calls == 4
    assert trace_tree(store, "no-such-trace") is None


def test_the_seeded_trace_tree(store: Store, seeded: Seeded) -> None:  # noqa: F811
    trace = trace_tree(store, TRACE)
    assert trace is not None and not trace.truncated
    shape = [(row.call.id, row.depth, row.parent_missing) for row in trace.rows]
    assert shape == [
        (seeded.root.id, 0, False),
        (seeded.child.id, 1, False),
        (seeded.grandchild.id, 2, False),
        (seeded.orphan.id, 0, True),
    ]
    priced = [c.cost.total for c in (seeded.root, seeded.child, seeded.grandchild) if c.cost]
    assert trace.totals.cost_total == sum(priced) and trace.totals.unpriced == 1


def test_has_calls(store: Store) -> None:  # noqa: F811
    assert not has_calls(store)
    store.insert_many([simple_call()])
    assert has_calls(store)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "banana"}, "since: 'banana' is neither a duration"),
        ({"until": "soon"}, "until: 'soon' is neither a duration"),
        ({"since": "1d", "until": "2d"}, "must be before until"),
        ({"status": "fine"}, "status: 'fine' is not a status"),
        ({"status": "42"}, "is not a status"),
        ({"model": "\x00"}, "model: contains control characters"),
    ],
)
def test_bad_filters_say_why(query: dict[str, str], message: str) -> None:
    with pytest.raises(FilterError, match=re.escape(message)):
        CallFilter.from_params(query, NOW)


def test_filter_parsing() -> None:
    parsed = CallFilter.from_params(
        {"since": " 2026-11-01 ", "until": "2026-11-02T10:00+02:00", "status": "ERROR", "tag": ""},
        NOW,
        "7d",
    )
    assert parsed.since == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert parsed.until == dt.datetime(2026, 11, 2, 8, tzinfo=dt.UTC)
    assert parsed.status == "error" and parsed.tag is None
    assert CallFilter.from_params({}, NOW, "7d").since == NOW - dt.timedelta(days=7)
    assert CallFilter.from_params({"since": ""}, NOW, "7d").is_empty()
    assert CallFilter.from_params({"since": "ALL"}, NOW, "7d").is_empty()
    assert parse_since("90m", NOW) == NOW - dt.timedelta(minutes=90)
    with pytest.raises(ValueError, match="--since: 'x'"):  # the CLI's wording
        parse_since("x")
