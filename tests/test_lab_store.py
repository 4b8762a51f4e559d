"""The lab tables on SQLite and PostgreSQL: runs by id, prefix and fingerprint,
cells replaced when retried, checks rescored, and a run's ledger rows found by
trace id range (and nothing of another run)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from llmtally.lab.checks import CheckResult
from llmtally.lab.results import load_results
from llmtally.lab.store import CellRecord, LabStore, RunNotFoundError, trace_prefix
from llmtally.ledger import Store
from test_ledger_support import db_url, full_call, pg_base_url, store  # noqa: F401

PLAN = {"prompts": [{"id": "p"}], "models": [{"name": "gpt-4o"}], "checks": ["c"]}


def _cell(run_id: str, key: str, **changes: object) -> CellRecord:
    cell = CellRecord(
        run_id=run_id,
        cell_key=key,
        prompt_id="p",
        row_index=0,
        model="gpt-4o",
        repetition=1,
        row={"q": "x"},
        status="failed",
        output=None,
        call_id=None,
        attempts=5,
        error="HTTP 503",
        checks=(),
        passed=False,
        client_latency_ms=None,
        client_ttft_ms=None,
        finished_at=dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC),
    )
    return dataclasses.replace(cell, **changes)  # type: ignore[arg-type]


def test_runs_cells_and_their_ledger_rows(store: Store) -> None:  # noqa: F811
    lab = LabStore(store)
    run = lab.create_run("exp", "/e.yaml", "fp1", PLAN, 2, Decimal("0.5"), "in-process")
    other = lab.create_run("exp", "/e.yaml", "fp2", PLAN, 2, None, "in-process")
    assert lab.get_run(run.id).max_usd == Decimal("0.5")
    assert lab.get_run().id == other.id  # the latest
    assert lab.find_run("fp1") == lab.get_run(run.id[:6])
    assert lab.find_run("nope") is None
    with pytest.raises(RunNotFoundError, match="no lab run 'zz'"):
        lab.get_run("zz")
    answer = full_call(trace_id=trace_prefix(run.id, "k1") + "a2")
    retry = full_call(trace_id=trace_prefix(run.id, "k1") + "a1", cost=None, status=429)
    elsewhere = full_call(trace_id=trace_prefix(other.id, "k1") + "a1")
    store.insert_many([answer, retry, elsewhere])
    lab.save_cell(_cell(run.id, "k1"))  # a failed try, then the answer replaces it
    ok = CheckResult("c", True, "")
    lab.save_cell(
        _cell(run.id, "k1", status="ok", output="hi", call_id=answer.id, attempts=2, error=None)
    )
    lab.update_checks(run.id, [("k1", (ok,), True)])
    (cell,) = lab.cells(run.id)
    assert (cell.status, cell.output, cell.checks, cell.passed) == ("ok", "hi", (ok,), True)
    attempts = lab.calls(run.id)
    assert {a.call.id for a in attempts} == {answer.id, retry.id}
    found = lab.attempt(answer.trace_id or "")
    assert found is not None and found.call.id == answer.id
    results = load_results(lab, run.id)
    assert answer.cost is not None
    assert results.ledger_total == results.total.cost == answer.cost.total
    assert results.cells[0].calls == 2 and results.cells[0].call == found.call
    assert results.pending == 1 and results.total.passed == 1
    lab.set_status(run.id, "complete")
    lab.start_session(run.id, None)
    again = lab.get_run(run.id)
    assert (again.status, again.max_usd) == ("running", None)
