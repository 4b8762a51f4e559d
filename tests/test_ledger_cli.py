"""``llmtally calls`` and ``llmtally calls show`` on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from llmtally.cli import app
from llmtally.cli.calls_cmd import parse_since
from llmtally.ledger import CallBodies, Store
from test_ledger_support import db_url, full_call, pg_base_url, simple_call, store  # noqa: F401


@pytest.fixture
def run(store: Store, db_url: str, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    monkeypatch.setenv("LLMTALLY_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")  # one line per row in the table
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, ["calls", *args])

    return invoke


def test_calls_lists_newest_first_as_a_table_and_as_json(run, store: Store) -> None:  # noqa: F811
    priced = full_call()
    unpriced = simple_call(user="bob", feature="chat")
    store.insert_many([priced, unpriced])
    result = run()
    assert result.exit_code == 0, result.output
    for text in ("openai/gpt-4o-2024-08-06", "123,457 / 4,321", "alice", "search", "1.23 s"):
        assert text in result.stdout
    assert "?" in result.stdout  # the unpriced call
    out = json.loads(run("--json").stdout)
    assert [c["id"] for c in out] == [priced.id, unpriced.id]  # 2026-11-02 after 11-01
    assert priced.cost is not None
    assert Decimal(out[0]["cost_usd"]) == priced.cost.total
    assert out[1]["cost_usd"] is None and out[1]["cost_error"].startswith("no price")


def test_calls_filters(run, store: Store) -> None:  # noqa: F811
    store.insert_many([full_call(), simple_call(user="bob", feature="chat")])
    by_user = json.loads(run("--user", "bob", "--json").stdout)
    assert [c["user"] for c in by_user] == ["bob"]
    assert json.loads(run("--feature", "search", "--json").stdout)[0]["user"] == "alice"
    assert len(json.loads(run("--model", "gpt-4o-mini", "--json").stdout)) == 1
    assert len(json.loads(run("--since", "2026-11-02", "--json").stdout)) == 1
    assert len(json.loads(run("--limit", "1", "--json").stdout)) == 1
    bad = run("--since", "yesterday")
    assert bad.exit_code == 2 and "neither a duration" in bad.stderr


def test_calls_show_prints_every_field_cost_and_bodies(run, store: Store) -> None:  # noqa: F811
    call = full_call()
    store.insert_many([call], [CallBodies(call.id, '{"messages": [1]}', '{"ok": true}', True)])
    result = run("show", call.id, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert call.cost is not None
    assert out["cost"]["breakdown"] == call.cost.breakdown()
    assert out["cost"]["price_id"] == "openai/gpt-4o@2024-10-02"
    assert out["usage"]["cache_read_tokens"] == 20_001
    assert out["input_tokens_by_role"]["history"] == 100_000
    assert out["tags"] == ["beta", "eu"] and out["trace_id"] == call.trace_id
    assert out["bodies"]["request"] == '{"messages": [1]}'
    assert out["bodies"]["request_truncated"] is True
    table = run("show", call.id)
    assert table.exit_code == 0
    for text in ("cost.breakdown.cache_read", "bodies.response", "input_tokens_by_role.tools"):
        assert text in table.stdout
    missing = run("show", "01NOSUCHCALL")
    assert missing.exit_code == 1 and "no call '01NOSUCHCALL'" in missing.stderr


def test_parse_since() -> None:
    now = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
    assert parse_since("6h", now) == dt.datetime(2026, 11, 28, 6, tzinfo=dt.UTC)
    assert parse_since("2w", now) == dt.datetime(2026, 11, 14, 12, tzinfo=dt.UTC)
    assert parse_since("2026-11-01") == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert parse_since("2026-11-01T10:00+01:00").utcoffset() == dt.timedelta(hours=1)


def test_the_command_line_does_not_import_the_database_layer_to_start() -> None:
    code = "import sys, llmtally.cli; print('sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
