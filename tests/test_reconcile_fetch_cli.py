"""``llmtally reconcile fetch`` on the command line (the summary at 80 columns, a
refused key, a cut run), and the fetch into the real ledger tables of
``llmtally.reconcile.load`` against the fakes of tests/admin_fakes.py (which
cite the API references)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from admin_fakes import FakeAnthropic, FakeOpenAI, StandInLedger, Step
from llmtally.cli import app, reconcile_fetch
from llmtally.reconcile.admin_http import FetchError, Limits
from llmtally.reconcile.fetch import fetch_reports

DAY = dt.timedelta(days=1)


def _today() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _fetch(*args: str) -> Result:
    """``llmtally reconcile fetch ARGS`` as registered on the command line."""
    return CliRunner().invoke(app, ["reconcile", "fetch", *args])


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch) -> StandInLedger:
    """The command's ledger and llmtally.reconcile.load replaced by the stand-in."""
    stand_in = StandInLedger()
    monkeypatch.setattr("llmtally.reconcile.fetch._load", lambda: stand_in)
    monkeypatch.setattr(reconcile_fetch, "open_ledger", lambda _db: contextlib.nullcontext("db"))
    monkeypatch.setattr("llmtally.reconcile.fetch.DEFAULT_LIMITS", Limits(backoff_base=0.001))
    return stand_in


@pytest.fixture
def openai_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    # the 30 days before today, as a first fetch without --since asks for
    with FakeOpenAI(_today() - 30 * DAY, days=30, page_size=12) as fake:
        monkeypatch.setenv("OPENAI_ADMIN_KEY", fake.key)
        monkeypatch.setenv("LLMTALLY_OPENAI_ADMIN_BASE_URL", fake.url)
        yield fake


def test_summary_fits_80_columns(openai_fake: FakeOpenAI, ledger: StandInLedger) -> None:
    done = _fetch("--provider", "openai")
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    # six reports, 30 days each at 12 a page: 3 pages each; one result a bucket
    assert lines[0] == "openai: 18 pages, 180 day buckets, 180 rows stored, 0 already there"
    first, end = _today() - 30 * DAY, _today()
    assert lines[1] == f"period: {first:%Y-%m-%d} to {end:%Y-%m-%d} (UTC days, end excluded)"
    assert lines[2].split() == ["report", "pages", "buckets", "stored", "already", "up", "to"]
    assert lines[3].split() == ["usage:completions", "3", "30", "30", "0", f"{end:%Y-%m-%d}"]
    assert lines[8].split()[:5] == ["costs", "3", "30", "30", "0"]
    assert len(lines) == 9


def test_json_summary(openai_fake: FakeOpenAI, ledger: StandInLedger) -> None:
    done = _fetch("--provider", "openai", "--json")
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert (data["pages"], data["buckets"], data["rows_stored"]) == (18, 180, 180)
    assert [report["kind"] for report in data["reports"]][-1] == "costs"
    assert data["stopped"] is None


def test_since_is_where_a_first_fetch_starts(
    openai_fake: FakeOpenAI, ledger: StandInLedger
) -> None:
    done = _fetch("--provider", "openai", "--since", "3d")
    assert done.exit_code == 0, done.output
    start = _today() - 3 * DAY  # 3 days ago, from that day's 00:00 UTC
    assert openai_fake.seen[0].one("start_time") == str(int(start.timestamp()))


def test_expired_key_exits_1_with_the_variable_and_without_the_key(
    openai_fake: FakeOpenAI, ledger: StandInLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-expired-0000")
    done = _fetch("--provider", "openai")
    assert done.exit_code == 1
    assert "OPENAI_ADMIN_KEY" in done.stderr and "Admin key" in done.stderr
    assert "sk-admin-expired-0000" not in done.output
    assert done.stdout == "" and ledger.buckets == []


def test_a_cut_run_shows_what_it_stored_then_the_error(
    openai_fake: FakeOpenAI, ledger: StandInLedger
) -> None:
    openai_fake.plan = [Step("drop", "/completions", page="page_MTI=", times=10)]  # b64 "12"
    done = _fetch("--provider", "openai", "--max-pages", "100")
    assert done.exit_code == 1
    assert done.stdout.splitlines()[0].startswith("openai: 1 page, 12 day buckets, 12 rows")
    assert "run again to resume" in done.stderr


def test_the_api_message_is_shown_as_written(
    openai_fake: FakeOpenAI, ledger: StandInLedger
) -> None:
    def bracketed(status: int, message: str) -> dict[str, Any]:
        return {"error": {"message": "bad [/] group_by[0]", "type": "x", "code": None}}

    openai_fake.error = bracketed  # type: ignore[method-assign]
    openai_fake.plan = [Step("400", "/completions")]
    done = _fetch("--provider", "openai")
    assert done.exit_code == 1 and "400: bad [/] group_by[0]" in done.stderr


def test_unknown_provider_exits_2(ledger: StandInLedger) -> None:
    done = _fetch("--provider", "google")
    assert done.exit_code == 2 and "openai, anthropic" in done.stderr


# -- the real ledger tables ------------------------------------------------------


def test_cut_and_resumed_into_the_ledger_tables(tmp_path: Path) -> None:
    from llmtally.ledger import open_store
    from llmtally.reconcile import load

    now = dt.datetime(2026, 12, 6, 15, 30, tzinfo=dt.UTC)
    limits = Limits(backoff_base=0.001, retries=2)
    with (
        open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as store,
        FakeAnthropic(dt.datetime(2026, 11, 6, tzinfo=dt.UTC), 30, page_size=12) as fake,
    ):
        env = {"ANTHROPIC_ADMIN_KEY": fake.key, "LLMTALLY_ANTHROPIC_ADMIN_BASE_URL": fake.url}
        fake.plan = [Step("drop", "/messages", page="page_MTI=", times=3)]
        with pytest.raises(FetchError):
            fetch_reports(store, "anthropic", now=now, env=env, limits=limits)
        # page 1 (12 days from 2026-11-06) stored: the report ends 2026-11-18
        end = load.last_bucket_end(store, "anthropic", "usage:messages", None)
        assert end == dt.datetime(2026, 11, 18, tzinfo=dt.UTC)
        summary = fetch_reports(store, "anthropic", now=now, env=env, limits=limits)
        # messages: 18 days left (2 pages); costs: 30 days (3 pages); one row a bucket
        assert [(r.kind, r.pages, r.stored, r.already) for r in summary.reports] == [
            ("usage:messages", 2, 18, 0),
            ("costs", 3, 30, 0),
        ]
        again = fetch_reports(store, "anthropic", now=now, env=env, limits=limits)
        assert again.total("pages") == 0
        for kind in ("usage:messages", "costs"):
            last = load.last_bucket_end(store, "anthropic", kind, None)
            assert last == dt.datetime(2026, 12, 6, tzinfo=dt.UTC)


def test_the_command_into_a_sqlite_ledger(
    openai_fake: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("llmtally.reconcile.fetch.DEFAULT_LIMITS", Limits(backoff_base=0.001))
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    done = _fetch("--provider", "openai", "--database", database)
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines()[0] == (
        "openai: 18 pages, 180 day buckets, 180 rows stored, 0 already there"
    )
    again = _fetch("--provider", "openai", "--database", database)
    assert again.exit_code == 0, again.output
    lines = again.stdout.splitlines()
    assert lines[0] == "openai: 0 pages, 0 day buckets, 0 rows stored, 0 already there"
    today = f"{_today():%Y-%m-%d}"
    assert lines[1] == f"up to date: nothing after {today} 00:00 UTC to fetch yet"
    assert lines[3].split() == ["usage:completions", "0", "0", "0", "0", today]
