"""``llmtally import jsonl|litellm FILE``: other tools' history into the ledger.

Fixtures in tests/fixtures/history/ (their README cites each tool's documented
shape). Every expected figure is worked out by hand in the comments, at the
catalog's prices per million tokens: gpt-4o-mini $0.15 in / $0.075 cached /
$0.60 out (batch $0.075 / $0.30); claude-sonnet-4 $3 in / $3.75 cache write /
$15 out; text-embedding-3-small $0.02 in; gemini-2.0-flash $0.10 / $0.40;
claude-3-5-haiku $0.80 in / $4 out from 2024-12-03 ($1 / $5 before).
"""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import psycopg
from typer.testing import CliRunner

from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.history import import_history
from llmtally.history.litellm_db import shown_url
from llmtally.history.reading import MAX_ROW_BYTES
from llmtally.ledger import Store, open_store
from test_ledger_support import db_url, libpq_url, pg_base_url, pg_schema, store  # noqa: F401

FIXTURES = Path(__file__).parent / "fixtures" / "history"
GENERIC = FIXTURES / "generic.jsonl"
LITELLM_CSV = FIXTURES / "litellm_spend_logs.csv"
LITELLM_JSON = FIXTURES / "litellm_spend_logs.json"
LANGFUSE = FIXTURES / "langfuse_observations.json"
HELICONE = FIXTURES / "helicone_requests.jsonl"


def _per_day_and_model(ledger: Store) -> dict[tuple[str, str], Decimal | None]:
    totals: dict[tuple[str, str], Decimal | None] = defaultdict(Decimal)
    for call in ledger.list(limit=None):
        key = (call.started_at.date().isoformat(), call.model)
        current = totals[key]
        totals[key] = None if call.cost is None or current is None else current + call.cost.total
    return dict(totals)


def test_generic_jsonl_totals_per_day_and_model(store: Store) -> None:  # noqa: F811
    summary = import_history("jsonl", GENERIC, store, Catalog.load())
    assert _per_day_and_model(store) == {
        # g1: 6,000 uncached x 0.15 + 4,000 cached x 0.075 + 2,000 out x 0.60
        #   = 0.0009 + 0.0003 + 0.0012 = 0.0024; g2: 1,000 x 0.15 + 500 x 0.60 = 0.00045
        ("2025-03-01", "gpt-4o-mini"): Decimal("0.00285"),
        # g3, Anthropic's own usage: input 2,000 + cache write 10,000 -> 12,000 in:
        #   2,000 x 3 + 10,000 x 3.75 + 500 x 15 = 0.006 + 0.0375 + 0.0075 = 0.051
        ("2025-06-02", "claude-sonnet-4-20250514"): Decimal("0.051"),
        # g4, batch: 20,000 x 0.075 + 10,000 x 0.30 = 0.0015 + 0.003 = 0.0045
        ("2025-06-02", "gpt-4o-mini"): Decimal("0.0045"),
        ("2025-06-02", "gpt-nonexistent"): None,  # stored, unpriced, not 0
    }
    assert (summary.imported, summary.already, summary.unpriced) == (5, 1, 1)  # g2 twice
    assert [(s.where, s.reason.split(":")[0]) for s in summary.skipped] == [
        ("line 7", "malformed JSON"),
        ("line 8", "started_at"),
        ("line 9", "tokens"),
        ("line 10", "unknown field(s)"),
    ]
    # the source's cost on g1, g2, g3: 0.0024 + 0.00045 + 0.081 = 0.08385, against
    # llmtally's 0.0024 + 0.00045 + 0.051 = 0.05385: the $0.03 of cache writes counted twice
    assert (summary.source_cost, summary.compared_cost) == (
        Decimal("0.08385"),
        Decimal("0.05385"),
    )
    assert summary.cost_difference == Decimal("-0.03")
    assert summary.cost == Decimal("0.05835")  # 0.05385 + g4's 0.0045
    g1 = next(c for c in store.list(limit=None) if c.user == "ana" and c.feature)
    assert (g1.feature, g1.tags, g1.key_id, g1.latency_ms) == (
        "search",
        ("beta", "web"),
        "team-a",
        1250,
    )


def test_a_second_import_adds_nothing(store: Store) -> None:  # noqa: F811
    catalog = Catalog.load()
    import_history("jsonl", GENERIC, store, catalog)
    again = import_history("jsonl", GENERIC, store, catalog)
    assert (again.imported, again.already, store.count()) == (0, 6, 5)


def test_litellm_spend_logs_csv(store: Store) -> None:  # noqa: F811
    summary = import_history("litellm", LITELLM_CSV, store, Catalog.load())
    assert _per_day_and_model(store) == {
        ("2025-03-01", "gpt-4o-mini"): Decimal("0.0024"),  # as g1 above; LiteLLM agrees
        # prompt_tokens 12,000 include the 10,000 cache writes: 0.051 as g3 above;
        # LiteLLM's spend 0.081 = 12,000 x 3 + 10,000 x 3.75 + 500 x 15 (writes twice)
        ("2025-06-02", "claude-sonnet-4-20250514"): Decimal("0.051"),
        ("2025-06-02", "gemini-2.0-flash"): Decimal(0),  # failed, no tokens
        ("2025-06-02", "text-embedding-3-small"): Decimal("0.0001"),  # 5,000 x 0.02
    }
    assert (summary.imported, summary.already) == (4, 0)
    assert [(s.where, s.reason.split(":")[0]) for s in summary.skipped] == [
        ("line 4", "answered from LiteLLM's own cache"),
        ("line 6", "startTime"),
        ("line 7", "request_id"),
    ]
    # LiteLLM 0.0024 + 0.081 + 0 + 0.0001 = 0.0835; llmtally 0.0024 + 0.051 + 0.0001 = 0.0535
    assert (summary.source_cost, summary.cost, summary.cost_difference) == (
        Decimal("0.0835"),
        Decimal("0.0535"),
        Decimal("-0.03"),
    )
    calls = {c.model: c for c in store.list(limit=None)}
    first = calls["gpt-4o-mini"]
    assert (first.user, first.feature, first.trace_id, first.latency_ms) == (
        "ana",  # end_user (the customer) before user (LiteLLM's internal user)
        "search",
        "sess-1",
        1250,
    )
    assert first.tags == ("prod", "search", "team:team-a")
    assert (
        first.key_id == "litellm:88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"
    )
    assert first.usage.cache_read_tokens == 4000
    assert calls["claude-sonnet-4-20250514"].usage.cache_write_tokens == 10000
    assert (calls["gemini-2.0-flash"].provider, calls["gemini-2.0-flash"].status) == ("google", 500)
    assert calls["text-embedding-3-small"].endpoint == "/v1/embeddings"


def test_litellm_json_and_csv_exports_of_the_same_rows_are_the_same_calls(tmp_path: Path) -> None:
    catalog = Catalog.load()
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as ledger:
        from_json = import_history("litellm", LITELLM_JSON, ledger, catalog)
        from_csv = import_history("litellm", LITELLM_CSV, ledger, catalog)
        assert (from_json.imported, from_csv.imported, from_csv.already) == (2, 2, 2)
        assert ledger.count() == 4


def test_an_interrupted_import_resumes(tmp_path: Path) -> None:
    part = tmp_path / "part.jsonl"
    part.write_text("".join(GENERIC.read_text().splitlines(keepends=True)[:3]))
    catalog = Catalog.load()
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as ledger:
        first = import_history("jsonl", part, ledger, catalog, batch_size=2)
        rest = import_history("jsonl", GENERIC, ledger, catalog, batch_size=2)
        assert (first.imported, rest.imported, rest.already, ledger.count()) == (3, 2, 4, 5)


def test_the_command_prints_a_summary_and_json(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    runner = CliRunner()
    text = runner.invoke(app, ["import", "litellm", str(LITELLM_CSV), "--database", url])
    assert text.exit_code == 0, text.output
    assert "4 imported, 0 already there, 3 skipped" in text.output
    assert "$0.0535 by llmtally, $0.0835 by litellm (difference -$0.03)" in text.output
    assert "line 6: startTime: timestamp: not ISO 8601: 'yesterday'" in text.output
    again = runner.invoke(app, ["import", "litellm", str(LITELLM_CSV), "--database", url, "--json"])
    data = json.loads(again.stdout)
    assert (data["imported"], data["already_there"], data["skipped"]) == (0, 4, 3)
    assert data["skipped_by_reason"] == {
        "answered from LiteLLM's own cache": 1,
        "request_id": 1,
        "startTime": 1,
    }
    assert data["difference_usd"] == "-0.03"


def test_bad_input_is_one_line_never_a_traceback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    runner = CliRunner()
    unknown = runner.invoke(app, ["import", "langsmith", str(GENERIC), "--database", url])
    assert unknown.exit_code == 2 and "unknown format 'langsmith'" in unknown.output
    not_array = tmp_path / "logs.json"
    not_array.write_text('["a", {"request_id": 1')
    broken = runner.invoke(app, ["import", "litellm", str(not_array), "--database", url])
    assert broken.exit_code == 1 and "not a JSON array" in broken.output
    huge = tmp_path / "huge.jsonl"
    huge.write_bytes(b'{"id": "' + b"x" * MAX_ROW_BYTES + b'"}\n' + GENERIC.read_bytes())
    result = runner.invoke(app, ["import", "jsonl", str(huge), "--database", url, "--json"])
    data = json.loads(result.stdout)
    assert data["skipped_rows"][0] == {"where": "line 1", "reason": "longer than 1048576 bytes"}
    assert (data["imported"], data["skipped"]) == (5, 5)
    # another tool's file: every row refused, which is an error (exit 1), not a success
    wrong = runner.invoke(app, ["import", "langfuse", str(HELICONE), "--database", url])
    assert wrong.exit_code == 1, wrong.output
    assert "0 imported" in wrong.output and "no row could be read as langfuse" in wrong.output
    # a generic row pretty-printed over three lines (not one per line): the same
    spread = tmp_path / "spread.jsonl"
    spread.write_text('{"id": "req-1", "provider": "openai",\n "model": "gpt-4o-mini",\n}\n')
    split = runner.invoke(app, ["import", "jsonl", str(spread), "--database", url])
    assert split.exit_code == 1 and "malformed JSON" in split.output


def test_langfuse_observations(store: Store) -> None:  # noqa: F811
    summary = import_history("langfuse", LANGFUSE, store, Catalog.load())
    assert _per_day_and_model(store) == {
        # obs-2 on 2025-01-15: 10,000 x 0.80 + 1,000 x 4 = 0.008 + 0.004 = 0.012; Langfuse
        # said 0.015, the launch price ($1 / $5) applied after the 2024-12-03 cut
        ("2025-01-15", "claude-3-5-haiku-20241022"): Decimal("0.012"),
        # obs-1: usageDetails input 6,000 + input_cached_tokens 4,000 = 10,000 in, 4,000
        # cached, 2,000 out: 0.0024 as g1 above; obs-4 failed with no tokens: 0
        ("2025-03-01", "gpt-4o-mini"): Decimal("0.0024"),
    }
    assert (summary.imported, summary.already) == (3, 0)
    assert [(s.where, s.reason.split(":")[0]) for s in summary.skipped] == [
        ("item 3", "not a generation (SPAN)"),
        ("item 5", "model"),
    ]
    # Langfuse 0.0024 + 0.015 = 0.0174 on the two rows with a cost; llmtally 0.0144
    assert (summary.source_cost, summary.compared_cost) == (Decimal("0.0174"), Decimal("0.0144"))
    assert summary.cost_difference == Decimal("-0.003")
    first = next(c for c in store.list(limit=None) if c.user == "ana")
    assert (first.provider, first.trace_id, first.parent_id, first.feature) == (
        "openai",  # Langfuse does not say: the catalog's provider of gpt-4o-mini
        "trace-1",
        "span-1",
        "search",
    )
    assert first.tags == ("env:production", "prompt:search-v2")
    assert (first.usage.input_tokens, first.usage.cache_read_tokens, first.latency_ms) == (
        10000,
        4000,
        800,
    )
    failed = next(c for c in store.list(limit=None) if c.status == 500)
    assert failed.error == "Request timed out."


def test_helicone_requests(store: Store) -> None:  # noqa: F811
    summary = import_history("helicone", HELICONE, store, Catalog.load())
    assert _per_day_and_model(store) == {
        # prompt_tokens 10,000 include the 4,000 cache reads: 0.0024 as g1 above;
        # Helicone's costUSD 0.0027 = 10,000 x 0.15 + 2,000 x 0.60 (no cached discount)
        ("2025-03-01", "gpt-4o-mini"): Decimal("0.0024"),
        # Anthropic's input_tokens 2,000 passed through, + 10,000 cache writes: 0.051
        ("2025-06-02", "claude-sonnet-4-20250514"): Decimal("0.051"),
        ("2025-06-02", "gpt-4o-mini"): Decimal(0),  # a 429, no tokens
    }
    assert (summary.imported, summary.already) == (3, 0)
    assert [(s.where, s.reason.split(":")[0]) for s in summary.skipped] == [
        ("line 3", "answered from Helicone's cache"),
        ("line 5", "request_created_at"),
    ]
    # Helicone 0.0027 + 0.051 + 0 = 0.0537; llmtally 0.0024 + 0.051 + 0 = 0.0534
    assert (summary.source_cost, summary.cost, summary.cost_difference) == (
        Decimal("0.0537"),
        Decimal("0.0534"),
        Decimal("-0.0003"),
    )
    first = next(c for c in store.list(limit=None) if c.user == "ana")
    assert (first.feature, first.trace_id, first.tags, first.endpoint, first.latency_ms) == (
        "search",
        "sess-9",
        ("environment:production",),
        "/v1/chat/completions",
        900,
    )
    refused = next(c for c in store.list(limit=None) if c.status == 429)
    assert refused.error == "HTTP 429"
    again = import_history("helicone", HELICONE, store, Catalog.load())
    assert (again.imported, again.already) == (0, 3)


# LiteLLM_SpendLogs as LiteLLM's Prisma schema creates it (the columns the import
# reads, and messages/response, which it must not).
SPEND_LOGS_DDL = """
CREATE TABLE "LiteLLM_SpendLogs" (
    request_id TEXT PRIMARY KEY, call_type TEXT NOT NULL, api_key TEXT NOT NULL DEFAULT '',
    spend DOUBLE PRECISION NOT NULL DEFAULT 0.0, total_tokens INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,
    "startTime" TIMESTAMP(3) NOT NULL, "endTime" TIMESTAMP(3) NOT NULL,
    "completionStartTime" TIMESTAMP(3), model TEXT NOT NULL DEFAULT '', model_id TEXT DEFAULT '',
    model_group TEXT DEFAULT '', custom_llm_provider TEXT DEFAULT '', api_base TEXT DEFAULT '',
    "user" TEXT DEFAULT '', metadata JSONB DEFAULT '{}', cache_hit TEXT DEFAULT '',
    cache_key TEXT DEFAULT '', request_tags JSONB DEFAULT '[]', team_id TEXT, end_user TEXT,
    requester_ip_address TEXT, messages JSONB DEFAULT '{}', response JSONB DEFAULT '{}',
    session_id TEXT, status TEXT
)
"""


def _load_spend_logs(url: str) -> None:
    """The CSV fixture's rows that PostgreSQL can hold (not a bad time or an empty id)."""
    import csv

    with LITELLM_CSV.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["request_id"] and r["startTime"][0] == "2"]
    columns = [c for c in rows[0] if c not in ("model_id",)]
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(SPEND_LOGS_DDL)
        for row in rows:
            values = [row[c] or None for c in columns]
            conn.execute(f'INSERT INTO "LiteLLM_SpendLogs" ({names}) VALUES ({marks})', values)


def test_litellm_read_from_its_postgresql(tmp_path: Path, pg_base_url: str) -> None:  # noqa: F811
    ledger = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    runner = CliRunner()
    with pg_schema(pg_base_url) as litellm_url:
        _load_spend_logs(litellm_url)
        args = ["import", "litellm", litellm_url, "--database", ledger, "--json"]
        data = json.loads(runner.invoke(app, args).stdout)
    # the 5 rows PostgreSQL holds: A1, B2, D4, F6 imported, C3 (a cache hit) skipped;
    # costs as in test_litellm_spend_logs_csv
    assert (data["imported"], data["skipped"], data["cost_usd"]) == (4, 1, "0.0535")
    assert (data["source_cost_usd"], data["difference_usd"]) == ("0.0835", "-0.03")
    assert data["skipped_rows"][0]["where"] == "row 3"  # in startTime order
    csv_args = ["import", "litellm", str(LITELLM_CSV), "--database", ledger, "--json"]
    from_csv = json.loads(runner.invoke(app, csv_args).stdout)
    assert (from_csv["imported"], from_csv["already_there"]) == (0, 4)  # the same calls


def test_a_database_without_litellm_is_one_line(tmp_path: Path, pg_base_url: str) -> None:  # noqa: F811
    ledger = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    with pg_schema(pg_base_url) as empty_url:
        result = CliRunner().invoke(app, ["import", "litellm", empty_url, "--database", ledger])
        other = CliRunner().invoke(app, ["import", "helicone", empty_url, "--database", ledger])
    assert result.exit_code == 1
    assert "no LiteLLM_SpendLogs table there" in result.output
    assert other.exit_code == 2 and "only litellm reads a database URL" in other.output
    assert shown_url("postgresql://litellm:s3cret@db:5432/litellm") == (
        "postgresql://litellm:***@db:5432/litellm"
    )
