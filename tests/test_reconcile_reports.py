"""Provider usage and cost reports into the ledger (issue 14, first slice), on
SQLite and PostgreSQL: each documented page shape parsed to hand-checked rows
(fixtures in tests/fixtures/reconcile, their sources in its SOURCES.md),
idempotent re-imports, all-or-nothing, another organization, overlaps and
malformed files refused with nothing stored."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, select
from typer.testing import CliRunner

from llmtally.cli import app
from llmtally.ledger import Store
from llmtally.ledger.migrations import MIGRATIONS
from llmtally.reconcile import files
from llmtally.reconcile.load import import_file, import_page, last_bucket_end
from llmtally.reconcile.rows import ReportError
from llmtally.reconcile.tables import provider_costs, provider_usage, reconcile_metadata
from test_ledger_support import db_url, pg_base_url, store  # noqa: F401

FIXTURES = Path(__file__).parent / "fixtures" / "reconcile"
NOV1 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
NOV2 = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
NOV3 = dt.datetime(2026, 11, 3, tzinfo=dt.UTC)
E_NOV1, E_NOV2, E_NOV3 = 1793491200, 1793577600, 1793664000  # the same days, Unix seconds


def _rows(ledger: Store, table: Any, **where: Any) -> list[dict[str, Any]]:
    query = select(table).order_by(table.c.bucket_start, table.c.group_key)
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    with ledger.engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def _count(ledger: Store) -> int:
    with ledger.engine.connect() as conn:
        usage = conn.execute(select(func.count()).select_from(provider_usage)).scalar_one()
        costs = conn.execute(select(func.count()).select_from(provider_costs)).scalar_one()
    return int(usage) + int(costs)


def _page(*buckets: dict[str, Any]) -> dict[str, Any]:
    return {"object": "page", "data": list(buckets), "has_more": False, "next_page": None}


def _completions(start: int, end: int, **result: Any) -> dict[str, Any]:
    row = {
        "object": "organization.usage.completions.result",
        "input_tokens": 100,
        "output_tokens": 10,
        "input_cached_tokens": 0,
        "num_model_requests": 1,
        "model": "gpt-4o-mini",
    }
    row.update(result)
    return {"object": "bucket", "start_time": start, "end_time": end, "results": [row]}


def _write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


# -- the tables ---------------------------------------------------------------------------


def test_the_migrated_database_has_the_report_tables(store: Store) -> None:  # noqa: F811
    assert "m0012_provider_reports" in [name for name, _ in MIGRATIONS]
    found = inspect(store.engine)
    for table in reconcile_metadata.sorted_tables:
        columns = {c["name"] for c in found.get_columns(table.name)}
        assert columns == {c.name for c in table.columns}, table.name
        assert set(found.get_pk_constraint(table.name)["constrained_columns"]) == {
            "provider",
            "account",
            "kind",
            "bucket_start",
            "bucket_end",
            "group_key",
        }


# -- each provider's shape, hand-checked --------------------------------------------------


def test_openai_completions_page_becomes_one_row_per_group(store: Store) -> None:  # noqa: F811
    result = import_file(store, FIXTURES / "openai_completions.json")
    [tally] = result.tallies
    assert (tally.provider, tally.kind, tally.account) == ("openai", "usage:completions", "default")
    assert (tally.buckets, tally.new, tally.already, tally.start, tally.end) == (
        2,
        3,
        0,
        NOV1,
        NOV3,
    )
    rows = _rows(store, provider_usage)
    day1 = [r for r in rows if r["bucket_start"].replace(tzinfo=dt.UTC) == NOV1]
    standard = next(r for r in day1 if r["batch"] is False)
    # 1000 input tokens include 800 cached: 200 uncached
    assert standard["uncached_input_tokens"] == 200 and standard["cache_read_tokens"] == 800
    assert (standard["output_tokens"], standard["requests"]) == (500, 5)
    assert (standard["model"], standard["project_id"], standard["api_key_id"]) == (
        "gpt-4o-2024-08-06",
        "proj_a",
        "key_1",
    )
    batch = next(r for r in day1 if r["batch"] is True)
    assert (batch["uncached_input_tokens"], batch["cache_read_tokens"]) == (20000, 0)
    assert (batch["output_tokens"], batch["requests"]) == (3000, 40)
    [day2] = [r for r in rows if r["bucket_start"].replace(tzinfo=dt.UTC) == NOV2]
    # 300 input - 100 cached = 200 uncached; audio as reported
    assert (day2["uncached_input_tokens"], day2["cache_read_tokens"]) == (200, 100)
    assert (day2["input_audio_tokens"], day2["output_audio_tokens"]) == (50, 20)
    assert day2["batch"] is None and day2["kind"] == "completions"
    assert day2["source"] == "openai_completions.json"


def test_openai_embeddings_images_and_audio_pages(store: Store) -> None:  # noqa: F811
    result = import_file(store, FIXTURES / "openai_other_kinds.json")
    kinds = [t.kind for t in result.tallies]
    assert kinds == [
        "usage:audio_speeches",
        "usage:audio_transcriptions",
        "usage:embeddings",
        "usage:images",
    ]
    by_kind = {r["kind"]: r for r in _rows(store, provider_usage)}
    assert (by_kind["embeddings"]["uncached_input_tokens"], by_kind["embeddings"]["requests"]) == (
        16,
        2,
    )
    images = by_kind["images"]
    assert (images["images"], images["image_size"], images["image_source"]) == (
        2,
        "1024x1024",
        "image.generation",
    )
    assert by_kind["audio_speeches"]["characters"] == 45
    assert by_kind["audio_transcriptions"]["audio_seconds"] == 20


def test_openai_costs_keep_exact_amounts(store: Store) -> None:  # noqa: F811
    import_file(store, FIXTURES / "openai_costs.jsonl", account="org-abc")
    rows = _rows(store, provider_costs)
    got = {(r["line_item"], r["project_id"]): (r["amount"], r["currency"]) for r in rows}
    assert got == {
        ("gpt-4o-2024-08-06, input", "proj_a"): (Decimal("0.06"), "USD"),
        ("gpt-4o-2024-08-06, output", "proj_a"): (Decimal("1.2345678901"), "USD"),
        ("gpt-4o-mini-2024-07-18, input", "proj_b"): (Decimal("0.5"), "USD"),
    }
    assert {r["account"] for r in rows} == {"org-abc"}
    assert last_bucket_end(store, "openai", "costs", "org-abc") == NOV3
    assert last_bucket_end(store, "openai", "costs", "org-other") is None
    assert last_bucket_end(store, "openai", "usage:completions", None) is None


def test_anthropic_messages_usage_report(store: Store) -> None:  # noqa: F811
    import_file(store, FIXTURES / "anthropic_messages.json")
    rows = {r["model"]: r for r in _rows(store, provider_usage, provider="anthropic")}
    sonnet = rows["claude-sonnet-4-20250514"]
    assert sonnet["uncached_input_tokens"] == 1500 and sonnet["cache_read_tokens"] == 200
    assert (sonnet["cache_write_5m_tokens"], sonnet["cache_write_1h_tokens"]) == (500, 1000)
    assert (sonnet["output_tokens"], sonnet["web_search_requests"]) == (500, 10)
    assert sonnet["project_id"] == "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"
    assert (sonnet["service_tier"], sonnet["context_window"]) == ("standard", "0-200k")
    assert sonnet["api_key_id"] == "apikey_01Rj2N8SVvo6BePZj99NhmiT"
    haiku = rows["claude-3-5-haiku-20241022"]
    assert (haiku["uncached_input_tokens"], haiku["output_tokens"]) == (700, 90)
    assert haiku["project_id"] is None and haiku["service_tier"] == "batch"
    assert last_bucket_end(store, "anthropic", "usage:messages", "default") == NOV2


def test_anthropic_cost_amounts_are_cents(store: Store) -> None:  # noqa: F811
    import_file(store, FIXTURES / "anthropic_costs.json")
    rows = {r["line_item"]: r for r in _rows(store, provider_costs)}
    tokens = rows["Claude Sonnet 4 Usage - Input Tokens"]
    assert tokens["amount"] == Decimal("1.2345")  # "123.45" cents / 100
    assert (tokens["cost_type"], tokens["token_type"]) == ("tokens", "uncached_input_tokens")
    assert (tokens["model"], tokens["service_tier"]) == ("claude-sonnet-4-20250514", "standard")
    search = rows["Web Search"]
    assert search["amount"] == Decimal("10") and search["model"] is None  # "1000" cents
    assert search["currency"] == "USD"


def test_google_billing_csv_keeps_gemini_rows_summed_per_sku(store: Store) -> None:  # noqa: F811
    result = import_file(store, FIXTURES / "google_billing.csv")
    [tally] = result.tallies
    assert (tally.account, tally.new, tally.skipped) == ("01A2B3-C4D5E6-F7A8B9", 2, 1)
    rows = {r["line_item"]: r for r in _rows(store, provider_costs, provider="google")}
    flash = rows["Gemini 2.5 Flash Input Tokens"]
    # two export rows of one SKU and hour: 0.0300000000 + 0.0150000001, 100000 + 50000
    assert flash["amount"] == Decimal("0.0450000001")
    assert (flash["usage_amount"], flash["usage_unit"]) == (Decimal("150000"), "count")
    assert (flash["model"], flash["service"], flash["project_id"]) == (
        "gemini-2.5-flash",
        "Gemini API",
        "my-app",
    )
    pro = rows["Gemini 2.5 Pro Output Tokens"]
    assert (pro["amount"], pro["model"], pro["service"]) == (
        Decimal("0.25"),
        "gemini-2.5-pro",
        "Vertex AI",
    )
    assert pro["bucket_end"].replace(tzinfo=dt.UTC) == NOV1 + dt.timedelta(hours=1)


def test_google_billing_json_lines_keep_credits(store: Store) -> None:  # noqa: F811
    import_file(store, FIXTURES / "google_billing.jsonl")
    [row] = _rows(store, provider_costs, provider="google")
    assert (row["amount"], row["credits"]) == (Decimal("0.12"), Decimal("-0.02"))
    assert row["usage_amount"] == Decimal("400000")


# -- idempotence, replacement, conflicts -------------------------------------------------


def test_importing_a_file_again_stores_nothing_new(store: Store) -> None:  # noqa: F811
    import_file(store, FIXTURES / "openai_completions.json")
    import_file(store, FIXTURES / "anthropic_costs.json")
    before = _rows(store, provider_usage)
    again = import_file(store, FIXTURES / "openai_completions.json")
    [tally] = again.tallies
    assert (tally.new, tally.already, tally.replaced) == (0, 3, 0)
    assert _count(store) == 3 + 2
    assert _rows(store, provider_usage) == before


def test_import_page_stores_a_fetched_page_and_replaces_a_refetched_bucket(
    store: Store,  # noqa: F811
) -> None:
    page = _page(_completions(E_NOV1, E_NOV2, input_tokens=100))
    first = import_page(store, "openai", "usage:completions", page, "fetch", account="org-1")
    assert (first.rows_new, first.rows_already) == (1, 0)
    same = import_page(store, "openai", "usage:completions", page, "fetch", account="org-1")
    assert (same.rows_new, same.rows_already) == (0, 1)
    # The day fetched again once complete: more tokens, same source -> replaced.
    later = _page(_completions(E_NOV1, E_NOV2, input_tokens=150))
    third = import_page(store, "openai", "usage:completions", later, "fetch", account="org-1")
    assert (third.rows_replaced, third.rows_new) == (1, 0)
    [row] = _rows(store, provider_usage)
    assert row["uncached_input_tokens"] == 150 and row["account"] == "org-1"
    assert last_bucket_end(store, "openai", "usage:completions", "org-1") == NOV2


def test_the_same_bucket_from_another_source_with_other_figures_is_refused(
    store: Store,  # noqa: F811
    tmp_path: Path,
) -> None:
    page = _page(_completions(E_NOV1, E_NOV2, input_tokens=100))
    import_page(store, "openai", "usage:completions", page, "fetch")
    other = _write(tmp_path, "saved.json", _page(_completions(E_NOV1, E_NOV2, input_tokens=99)))
    with pytest.raises(ReportError, match="imported from fetch with different figures"):
        import_file(store, other)
    [row] = _rows(store, provider_usage)
    assert row["uncached_input_tokens"] == 100 and row["source"] == "fetch"
    # the same figures from a file are simply already there
    same = _write(tmp_path, "same.json", page)
    assert import_file(store, same).tallies[0].already == 1


def test_buckets_of_another_width_over_a_stored_period_are_refused(
    store: Store,  # noqa: F811
    tmp_path: Path,
) -> None:
    import_file(store, FIXTURES / "openai_completions.json")
    hourly = _page(_completions(E_NOV1 + 3600, E_NOV1 + 7200))
    with pytest.raises(ReportError, match="different bucket width"):
        import_file(store, _write(tmp_path, "hourly.json", hourly))
    mixed = _page(_completions(E_NOV3, E_NOV3 + 86400), _completions(E_NOV3 + 3600, E_NOV3 + 7200))
    with pytest.raises(ReportError, match="buckets of different widths overlap"):
        import_file(store, _write(tmp_path, "mixed.json", mixed))
    assert _count(store) == 3


def test_a_bad_row_anywhere_stores_nothing(store: Store, tmp_path: Path) -> None:  # noqa: F811
    good = _page(_completions(E_NOV1, E_NOV2))
    bad = _page(_completions(E_NOV2, E_NOV3, output_tokens=-4))
    path = _write(tmp_path, "two.jsonl", json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(ReportError, match=r"line 2, bucket 1, result 1: field 'output_tokens'"):
        import_file(store, path)
    assert _count(store) == 0
    with pytest.raises(ReportError, match="field 'output_tokens'"):
        import_page(
            store, "openai", "usage:completions", _page(good["data"][0], bad["data"][0]), "f"
        )
    assert _count(store) == 0


def test_a_report_for_another_organization_is_refused_unless_named(
    store: Store,  # noqa: F811
    tmp_path: Path,
) -> None:
    import_file(store, FIXTURES / "google_billing.csv")
    other = (FIXTURES / "google_billing.csv").read_text().replace("01A2B3-C4D5E6-F7A8B9", "0XOTHER")
    path = _write(tmp_path, "other.csv", other)
    with pytest.raises(ReportError, match=r"another organization \(0XOTHER\).*--account 0XOTHER"):
        import_file(store, path)
    with pytest.raises(ReportError, match="is for account '0XOTHER', not 'nope'"):
        import_file(store, path, account="nope")
    assert import_file(store, path, account="0XOTHER").tallies[0].new == 2
    # OpenAI pages do not name the organization: the one stored, else --account.
    import_file(store, FIXTURES / "openai_costs.jsonl", account="org-a")
    assert import_file(store, FIXTURES / "openai_costs.jsonl").tallies[0].already == 3
    import_file(store, FIXTURES / "openai_costs.jsonl", account="org-b")
    with pytest.raises(ReportError, match=r"several accounts \(org-a, org-b\)"):
        import_file(store, FIXTURES / "openai_costs.jsonl")


# -- malformed input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ("hello,world\n1,2\n", "cannot tell what report this is"),
        ('{"data": [1', "malformed JSON"),
        ("[" * 40 + "]" * 40, "nests deeper than 16"),
        ('{"foo": 1}', "cannot tell what report this is"),
        ('{"data": [{"results": []}]}', "cannot tell the provider"),
        (
            json.dumps(_page({"object": "bucket", "start_time": 1, "end_time": 2, "results": []})),
            "no results",
        ),
        (json.dumps(_page(_completions(E_NOV1, E_NOV2, input_tokens=True))), "expected an integer"),
        (
            json.dumps(_page(_completions(E_NOV1, E_NOV2, input_cached_tokens=101))),
            "more than input_tokens",
        ),
        (json.dumps(_page(_completions(E_NOV2, E_NOV1))), "ends .* before it starts"),
        (json.dumps(_page(_completions(E_NOV1, E_NOV2, batch="yes"))), "field 'batch'"),
        (json.dumps(_page(_completions(E_NOV1, E_NOV2, model=["x"]))), "expected a string"),
        (
            json.dumps(_page(_completions(E_NOV1, E_NOV2, object="organization.usage.x.result"))),
            "not a report llmtally stores",
        ),
        (
            json.dumps(
                {
                    "data": [
                        {
                            "starting_at": "2026-11-01T00:00:00Z",
                            "ending_at": "2026-11-02T00:00:00Z",
                            "results": [{"amount": 12.5, "currency": "USD"}],
                        }
                    ]
                }
            ),
            "expected a decimal string of cents",
        ),
        (
            json.dumps(
                {
                    "data": [
                        {
                            "starting_at": "2026-11-01T00:00:00",
                            "ending_at": "2026-11-02T00:00:00Z",
                            "results": [{"uncached_input_tokens": 1}],
                        }
                    ]
                }
            ),
            "no UTC offset",
        ),
        (
            json.dumps(
                {
                    "data": [
                        {
                            "starting_at": "2026-11-01T00:00:00Z",
                            "ending_at": "2026-11-02T00:00:00Z",
                            "results": [{"amount": "NaN"}],
                        }
                    ]
                }
            ),
            "not a finite number",
        ),
    ],
)
def test_malformed_files_are_refused_with_where_and_why(
    store: Store,  # noqa: F811
    tmp_path: Path,
    content: str,
    message: str,
) -> None:
    with pytest.raises(ReportError, match=message):
        import_file(store, _write(tmp_path, "report.json", content))
    assert _count(store) == 0


def test_size_and_row_limits(
    store: Store,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = FIXTURES / "openai_other_kinds.json"
    monkeypatch.setattr(files, "MAX_ROWS", 3)
    with pytest.raises(ReportError, match="more than 3 pages or rows"):
        import_file(store, path)
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 100)
    with pytest.raises(ReportError, match="over 0 MiB: split the report"):
        import_file(store, path)
    assert _count(store) == 0


def test_import_page_refuses_unknown_providers_and_kinds(store: Store) -> None:  # noqa: F811
    page = _page(_completions(E_NOV1, E_NOV2))
    with pytest.raises(ReportError, match="unknown provider 'google'"):
        import_page(store, "google", "costs", page, "fetch")
    with pytest.raises(ReportError, match="anthropic has no report 'usage:completions'"):
        import_page(store, "anthropic", "usage:completions", page, "fetch")
    deep: dict[str, Any] = {"data": []}
    for _ in range(20):
        deep = {"data": [deep]}
    with pytest.raises(ReportError, match="nests deeper"):
        import_page(store, "openai", "costs", deep, "fetch")


# -- the command line ---------------------------------------------------------------------


def test_the_import_command_prints_what_was_stored_in_80_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTALLY_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    runner = CliRunner()
    path = str(FIXTURES / "google_billing.csv")
    first = runner.invoke(app, ["reconcile", "import", path])
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == [
        "google_billing.csv: 4 rows read",
        "google costs (account 01A2B3-C4D5E6-F7A8B9)",
        "  1 bucket, rows: 2 new, 0 already there, 0 replaced",
        "  1 row of other services skipped",
        "  2026-11-01 00:00 to 2026-11-01 01:00 UTC",
    ]
    again = runner.invoke(app, ["reconcile", "import", path, "--json"])
    [report] = json.loads(again.stdout)["reports"]
    assert (report["rows_new"], report["rows_already_there"]) == (0, 2)
    bad = _write(tmp_path, "bad.json", '{"data": [1')
    failed = runner.invoke(app, ["reconcile", "import", str(bad)])
    assert failed.exit_code == 1
    assert failed.stderr.strip().splitlines() == [
        "error: bad.json: line 1: malformed JSON: Expecting ',' delimiter at column 12 "
        "(nothing was stored)"
    ]
    missing = runner.invoke(app, ["reconcile", "import", str(tmp_path / "none.json")])
    assert missing.exit_code == 1 and "no such file" in missing.stderr
