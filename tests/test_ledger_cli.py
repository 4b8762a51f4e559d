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
    for text in ("openai/gpt-4o-2024-08-06", "123,457/4,321", "alice", "search", "1.23 s"):
        assert text in result.stdout
    assert "$0.50" in result.stdout  # $0.4954017934 to the cent
    assert "unpriced" in result.stdout and "$0 " not in result.stdout
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


def _rows(stdout: str) -> list[str]:
    """The table's lines that hold a call (they start with an id)."""
    return [line for line in stdout.splitlines() if line[:2] == "01"]


def test_the_table_shows_an_id_that_calls_show_accepts(run, store: Store) -> None:  # noqa: F811
    first = full_call(id="01KAAAAAAA0000000000000001")
    twin = full_call(id="01KAAAAAAA0000000000000002", started_at=first.started_at)
    other = simple_call(id="01KBBBBBBB0000000000000003")
    store.insert_many([first, twin, other])
    rows = _rows(run().stdout)
    # 01KAAAAAAA000000000000000 is what the twins share: the table shows 26 characters
    assert sorted(row.split()[0] for row in rows) == [
        "01KAAAAAAA0000000000000001",
        "01KAAAAAAA0000000000000002",
        "01KBBBBBBB0000000000000003",
    ]
    assert run("show", "01KBBBBBBB", "--json").stdout.count(other.id) == 1
    assert json.loads(run("show", "01kbbbbbbb000", "--json").stdout)["id"] == other.id
    ambiguous = run("show", "01KAAAAAAA")
    assert ambiguous.exit_code == 1
    assert "'01KAAAAAAA' starts more than one call" in ambiguous.stderr
    assert first.id in ambiguous.stderr and twin.id in ambiguous.stderr
    assert "no call '01KC'" in run("show", "01KC").stderr


def test_the_shortest_unique_prefix_is_shown(run, store: Store) -> None:  # noqa: F811
    store.insert_many(
        [
            simple_call(id="01KAAAAAAA0000000000000001"),
            simple_call(1, id="01KAAAAAAB0000000000000002"),
            simple_call(2, id="01KAAAAAAAX000000000000003"),
        ]
    )
    ids = sorted(row.split()[0] for row in _rows(run().stdout))
    # ...AAA0 and ...AAAX part at the 11th character; ...AAB at the 10th: 11 for all
    assert ids == ["01KAAAAAAA0", "01KAAAAAAAX", "01KAAAAAAB0"]


def test_the_table_is_readable_at_80_columns(
    run,
    store: Store,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    call = full_call(id="01KAAAAAAA0000000000000001")
    store.insert_many([call])
    result = run()
    assert result.exit_code == 0, result.output
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    (row,) = _rows(result.stdout)  # one line: nothing folded
    assert row.split() == [
        "01KAAAAAAA",
        "11-02",
        "09:30",
        "openai/gpt-4o-2024-08-06",
        "200",
        "123,457/4,321",
        "$0.50",
    ]
    assert "latency, user, feature: a wider terminal or --json" in " ".join(result.stdout.split())


def test_model_filters_take_the_names_the_table_shows(run, store: Store) -> None:  # noqa: F811
    served = full_call()  # openai/gpt-4o-2024-08-06
    mini = simple_call()  # openai/gpt-4o-mini
    together = simple_call(
        provider="together",
        model_served="meta-llama/Llama-3.3-70B-Instruct-Turbo",
        model_requested="meta-llama/Llama-3.3-70B-Instruct-Turbo",
    )
    store.insert_many([served, mini, together])

    def ids(model: str) -> list[str]:
        return [c["id"] for c in json.loads(run("--model", model, "--json").stdout)]

    assert ids("openai/gpt-4o-2024-08-06") == ids("gpt-4o-2024-08-06") == [served.id]
    assert ids("openai / gpt-4o-mini") == [mini.id]
    assert ids("together/meta-llama/Llama-3.3-70B-Instruct-Turbo") == [together.id]
    assert ids("meta-llama/Llama-3.3-70B-Instruct-Turbo") == [together.id]
    assert ids("anthropic/gpt-4o-mini") == [] and ids("openai/") == []


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
    lines = [" ".join(line.strip("│ ").split()) for line in table.stdout.splitlines()]
    for line in (
        "latency │ 1.23 s",  # 1234.567 ms
        "ttft │ 210 ms",  # 210.25
        "output_tokens_per_s │ 87.1",  # 87.125
        "cost_usd │ $0.4954017934",  # exact
        "cost.breakdown.images │ $0.16",
        "input_tokens_by_role.history │ 100,000",
    ):
        assert line in lines, line
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


def test_a_model_named_with_its_provider_is_not_prefixed_twice(run, store: Store) -> None:  # noqa: F811
    refused = simple_call(provider="local", model_requested="local/smollm2", model_served=None)
    store.insert_many([refused])
    result = run()
    assert result.exit_code == 0, result.output
    assert "local/smollm2" in result.stdout and "local/local/" not in result.stdout
