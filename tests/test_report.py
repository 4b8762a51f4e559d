"""``spend_report``, ``llmtally report`` and ``llmtally export`` on SQLite and PostgreSQL.

Every expected sum is computed here from the Calls the test inserted, with
exact Decimals, never read back from the library under test.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtally.analytics import GROUPS, ReportRow, spend_report, spend_total
from llmtally.cli import app
from llmtally.ledger import Store
from llmtally.ledger.rows import call_to_row
from llmtally.ledger.schema import calls as calls_table
from llmtally.meter import cost
from llmtally.usage import Call, Usage
from test_ledger_support import db_url, full_call, pg_base_url, price, store  # noqa: F401

UTC = dt.UTC
SINCE = dt.datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = dt.datetime(2026, 11, 3, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, micro: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, 0, micro, tzinfo=UTC)


def make(started: dt.datetime, tokens: int, priced: bool = True, **changes: object) -> Call:
    usage = Usage(input_tokens=tokens, output_tokens=tokens // 3 + 7)
    fields: dict[str, object] = {"started_at": started, "usage": usage}
    if priced:
        fields["cost"] = cost(usage, price())
    else:
        fields.update(cost=None, cost_error="no price in this test")
    fields.update(changes)
    return full_call(**fields)


def inside() -> list[Call]:
    return [
        make(at(1, 0), 120_001, tags=("beta", "eu"), key_id="k1", trace_id="t1"),
        make(at(1, 9, 50), 33_333, feature="chat", tags=("beta",), key_id="k1", trace_id="t1"),
        make(
            at(1, 10, 5),
            5_000,
            priced=False,
            provider="anthropic",
            model_requested="claude-x",
            model_served="claude-x-1",
            user="bob",
            feature=None,
            tags=(),
            key_id=None,
            trace_id="t2",
            status=500,
            error="upstream failed",
        ),
        make(
            at(2, 23, 59, 999_999),
            77_777,
            model_served=None,
            user=None,
            tags=("eu",),
            status=429,
            trace_id=None,
        ),
        make(at(2, 23, 0), 1_000, priced=False, user="carol", tags=("beta", "beta")),
    ]


def outside() -> list[Call]:
    before = SINCE - dt.timedelta(microseconds=1)
    return [make(before, 999_999, user="early"), make(UNTIL, 888_888, user="late")]


KEYS: dict[str, Callable[[Call], list[str | None]]] = {
    "model": lambda c: [c.model],
    "provider": lambda c: [c.provider],
    "user": lambda c: [c.user],
    "feature": lambda c: [c.feature],
    "key": lambda c: [c.key_id],
    "trace": lambda c: [c.trace_id],
    "tag": lambda c: list(dict.fromkeys(c.tags)) or [None],
    "day": lambda c: [c.started_at.strftime("%Y-%m-%d")],
    "hour": lambda c: [c.started_at.strftime("%Y-%m-%d %H:00")],
    # ISO weeks by their Monday: Nov 1 2026 is a Sunday, Nov 2 a Monday
    "week": lambda c: ["2026-10-26" if c.started_at.day == 1 else "2026-11-02"],
}


def expected(by: str, found: list[Call]) -> dict[str | None, ReportRow]:
    groups: dict[str | None, list[Call]] = {}
    for call in found:
        for key in KEYS[by](call):
            groups.setdefault(key, []).append(call)
    return {key: summed(key, members) for key, members in groups.items()}


def summed(key: str | None, members: list[Call]) -> ReportRow:
    return ReportRow(
        key=key,
        calls=len(members),
        input_tokens=sum(c.usage.input_tokens for c in members),
        output_tokens=sum(c.usage.output_tokens for c in members),
        cost_total=sum((c.cost.total for c in members if c.cost), Decimal(0)),
        unpriced=sum(1 for c in members if c.cost is None),
        errors=sum(1 for c in members if c.status >= 400),
    )


@pytest.fixture
def loaded(store: Store) -> list[Call]:  # noqa: F811
    found = inside()
    store.insert_many([*found, *outside()])
    return found


@pytest.mark.parametrize("by", GROUPS)
def test_every_group_sums_exactly_and_sorts_by_cost(
    by: str,
    store: Store,  # noqa: F811
    loaded: list[Call],
) -> None:
    rows = spend_report(store, SINCE, by, UNTIL)  # type: ignore[arg-type]
    assert {row.key: row for row in rows} == expected(by, loaded)
    assert len(rows) == len(expected(by, loaded))
    costs = [row.cost_total for row in rows]
    assert costs == sorted(costs, reverse=True)
    assert all(isinstance(row.cost_total, Decimal) for row in rows)


def test_total_counts_each_call_once_and_tags_count_under_each(
    store: Store,  # noqa: F811
    loaded: list[Call],
) -> None:
    total = spend_total(store, SINCE, UNTIL)
    assert total == summed("total", loaded)
    assert total.calls == 5 and total.unpriced == 2 and total.errors == 2
    tags = {row.key: row for row in spend_report(store, SINCE, "tag", UNTIL)}
    assert tags["beta"].calls == 3  # ("beta", "beta") counts once
    assert tags[None].calls == 1 and tags[None].unpriced == 1
    assert sum(row.calls for row in tags.values()) > total.calls


def test_range_edges_since_included_until_excluded(store: Store, loaded: list[Call]) -> None:  # noqa: F811
    by_user = {row.key for row in spend_report(store, SINCE, "user", UNTIL)}
    assert "early" not in by_user and "late" not in by_user
    everything = spend_report(store, SINCE - dt.timedelta(microseconds=1), "user")
    assert {"early", "late"} <= {row.key for row in everything}
    last = at(2, 23, 59, 999_999)
    assert spend_total(store, last, UNTIL).calls == 1
    assert spend_total(store, last + dt.timedelta(microseconds=1), UNTIL).calls == 0
    hours = spend_report(store, SINCE, "hour", at(1, 10))
    assert [(r.key, r.calls) for r in hours] == [("2026-11-01 00:00", 1), ("2026-11-01 09:00", 1)]


def test_bad_input_is_a_clear_value_error(store: Store) -> None:  # noqa: F811
    with pytest.raises(ValueError, match="cannot group by 'color': choose one of model"):
        spend_report(store, SINCE, "color")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be before until"):
        spend_report(store, UNTIL, "model", SINCE)
    with pytest.raises(ValueError, match="must be before until"):
        spend_total(store, SINCE, SINCE)
    with pytest.raises(ValueError, match="timezone-aware"):
        spend_report(store, dt.datetime(2026, 11, 1), "model")
    assert spend_report(store, SINCE, "model") == []
    assert spend_total(store, SINCE) == ReportRow("total", 0, 0, 0, Decimal(0), 0, 0)


@pytest.fixture
def run(store: Store, db_url: str, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    monkeypatch.setenv("LLMTALLY_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


RANGE = ("--since", "2026-11-01", "--until", "2026-11-03")


def test_report_json_and_csv_match_the_inserted_calls(run, loaded: list[Call]) -> None:
    want = sorted(expected("model", loaded).values(), key=lambda r: -r.cost_total)
    result = run("report", *RANGE, "--by", "model", "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [r["key"] for r in out["rows"]] == [r.key for r in want]
    for got, row in zip(out["rows"], want, strict=True):
        if row.unpriced == row.calls:  # no price for any of them: no cost, never 0
            assert got["cost_total"] is None
        else:
            assert Decimal(got["cost_total"]) == row.cost_total
        assert (got["calls"], got["unpriced"], got["errors"]) == (
            row.calls,
            row.unpriced,
            row.errors,
        )
    assert Decimal(out["total"]["cost_total"]) == summed("total", loaded).cost_total
    result = run("report", *RANGE, "--by", "user", "--format", "csv")
    assert result.exit_code == 0, result.output
    parsed = {r["key"] or None: r for r in csv.DictReader(io.StringIO(result.stdout))}
    for key, row in expected("user", loaded).items():
        if row.unpriced == row.calls:
            assert parsed[key]["cost_total"] == ""
        else:
            assert Decimal(parsed[key]["cost_total"]) == row.cost_total
        assert int(parsed[key]["input_tokens"]) == row.input_tokens


def test_report_table(run, loaded: list[Call]) -> None:
    result = run("report", *RANGE, "--by", "provider")
    assert result.exit_code == 0, result.output
    anthropic = expected("provider", loaded)["anthropic"]
    assert anthropic.cost_total == 0
    for text in ("spend by provider", "openai", "anthropic", "total", "unpriced"):
        assert text in result.stdout
    total = summed("total", loaded)
    assert f"{total.input_tokens:,}" in result.stdout


def test_report_shows_unpriced_calls_as_unpriced_never_zero(run, loaded: list[Call]) -> None:
    # anthropic: one call (5,000 in, 5,000 // 3 + 7 = 1,673 out), unpriced and a 500
    table = run("report", *RANGE, "--by", "provider")
    assert table.exit_code == 0, table.output
    lines = {line.split()[0]: line.split() for line in table.stdout.splitlines() if line.strip()}
    assert lines["anthropic"] == ["anthropic", "1", "5,000", "1,673", "unpriced", "1", "1"]
    assert "$0" not in table.stdout
    # 2 of the 5 calls have no price (anthropic's and carol's)
    assert "2 calls unpriced (failed, or no price): counted apart, not in cost" in " ".join(
        table.stdout.split()
    )
    out = json.loads(run("report", *RANGE, "--by", "provider", "--format", "json").stdout)
    row = next(r for r in out["rows"] if r["key"] == "anthropic")
    assert (row["cost_total"], row["unpriced"], row["calls"]) == (None, 1, 1)
    assert out["total"]["unpriced"] == 2
    found = run("report", *RANGE, "--by", "user", "--format", "csv").stdout
    bob = next(r for r in csv.DictReader(io.StringIO(found)) if r["key"] == "bob")
    assert (bob["cost_total"], bob["unpriced"]) == ("", "1")


def test_report_empty_ledger_and_bad_options(run) -> None:
    result = run("report", "--since", "7d")
    assert result.exit_code == 0 and "no calls in the ledger" in result.stderr
    empty = run("report", "--format", "json")
    assert empty.exit_code == 0 and json.loads(empty.stdout)["rows"] == []
    bad = {
        ("--since", "yesterday"): "--since: 'yesterday' is neither",
        ("--until", "soon"): "--until: 'soon' is neither",
        ("--by", "color"): "--by: 'color' is not one of",
        ("--format", "xml"): "--format: 'xml' is not one of",
        ("--since", "2026-11-03", "--until", "2026-11-01"): "must be before until",
    }
    for args, message in bad.items():
        result = run("report", *args)
        assert result.exit_code == 2 and message in result.stderr, (args, result.stderr)


def _expected_rows(found: list[Call]) -> list[dict[str, Any]]:
    return [call_to_row(c) for c in sorted(found, key=lambda c: (c.started_at, c.id))]


def _same(name: str, got: Any, want: Any) -> bool:
    if want is None:
        return got in (None, "")
    if isinstance(want, Decimal):
        return Decimal(got) == want
    if isinstance(want, dt.datetime):
        return dt.datetime.fromisoformat(got) == want
    if name in ("tags", "images") and not isinstance(got, str):
        return got == json.loads(want)
    return type(want)(got) == want


def test_export_csv_and_jsonl_round_trip(run, loaded: list[Call], tmp_path) -> None:
    want = _expected_rows(loaded)
    columns = [column.name for column in calls_table.columns]
    result = run("export", "--format", "jsonl", *RANGE)
    assert result.exit_code == 0, result.output
    assert "exported 5 calls" in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    target = tmp_path / "calls.csv"
    assert run("export", "--format", "csv", *RANGE, "--output", str(target)).exit_code == 0
    with target.open(newline="") as handle:
        table = list(csv.DictReader(handle))
    for got_rows in (lines, table):
        assert [list(row) for row in got_rows] == [columns] * len(want)
        for got, row in zip(got_rows, want, strict=True):
            for name in columns:
                assert _same(name, got[name], row[name]), (name, got[name], row[name])
    assert isinstance(lines[0]["cost_total"], str)  # money as exact decimal text
    everything = run("export", "--format", "jsonl")
    assert len(everything.stdout.splitlines()) == 7


def test_export_empty_and_bad_formats(run) -> None:
    empty = run("export", "--format", "csv")
    assert empty.exit_code == 0 and "nothing exported" in empty.stderr
    assert empty.stdout.startswith("id,started_at,")
    parquet = run("export", "--format", "parquet")
    assert parquet.exit_code == 2 and "needs --output FILE" in parquet.stderr
    assert "is not one of" in run("export", "--format", "xml").stderr
    assert "neither a duration" in run("export", "--format", "csv", "--since", "x").stderr
