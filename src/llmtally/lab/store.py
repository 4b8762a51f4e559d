"""The lab's tables in the ledger database: runs, and cells as they finish.

A cell keeps its output and check results; its tokens, cost and latency stay
in the ledger (``calls``), found by trace id: every attempt of a cell is sent
with ``lab:<run>:<cell>:<attempt>`` as its trace id, so one index range gives
a run's calls, and one trace id gives an attempt's row.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, select, update

from llmtally.lab.checks import CheckResult
from llmtally.ledger.rows import row_to_call
from llmtally.ledger.schema import calls, lab_cells, lab_runs
from llmtally.ledger.store import Store
from llmtally.usage import Call

__all__ = ["Attempt", "CellRecord", "LabStore", "RunInfo", "RunNotFoundError", "trace_prefix"]

RUNNING, COMPLETE = "running", "complete"


class RunNotFoundError(LookupError):
    pass


def trace_prefix(run_id: str, cell_key: str | None = None) -> str:
    return f"lab:{run_id}:" + (f"{cell_key}:" if cell_key else "")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: str
    name: str
    experiment_path: str
    fingerprint: str
    plan: dict[str, Any]
    total_cells: int
    status: str
    stop_reason: str | None
    max_usd: Decimal | None
    gateway: str
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def tag(self) -> str:
        return f"lab-run:{self.id}"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt's ledger row, and its cost as the ledger sums it (``cost_total``,
    which can differ in the 10th decimal from the sum of the rounded components)."""

    call: Call
    cost: Decimal | None


@dataclass(frozen=True, slots=True)
class CellRecord:
    run_id: str
    cell_key: str
    prompt_id: str
    row_index: int
    model: str
    repetition: int
    row: dict[str, str | None]
    status: str  # ok | failed
    output: str | None
    call_id: str | None
    attempts: int
    error: str | None
    checks: tuple[CheckResult, ...]
    passed: bool | None
    client_latency_ms: float | None
    client_ttft_ms: float | None
    finished_at: dt.datetime


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _run(row: Any) -> RunInfo:
    return RunInfo(
        id=row.id,
        name=row.name,
        experiment_path=row.experiment_path,
        fingerprint=row.fingerprint,
        plan=json.loads(row.plan),
        total_cells=row.total_cells,
        status=row.status,
        stop_reason=row.stop_reason,
        max_usd=row.max_usd,
        gateway=row.gateway,
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
    )


def _checks_json(checks: Iterable[CheckResult]) -> str:
    return json.dumps([c.as_json() for c in checks], ensure_ascii=False)


def _cell(row: Any) -> CellRecord:
    checks = tuple(CheckResult(**item) for item in json.loads(row.checks or "[]"))
    return CellRecord(
        run_id=row.run_id,
        cell_key=row.cell_key,
        prompt_id=row.prompt_id,
        row_index=row.row_index,
        model=row.model,
        repetition=row.repetition,
        row=json.loads(row.row_values),
        status=row.status,
        output=row.output,
        call_id=row.call_id,
        attempts=row.attempts,
        error=row.error,
        checks=checks,
        passed=row.passed,
        client_latency_ms=row.client_latency_ms,
        client_ttft_ms=row.client_ttft_ms,
        finished_at=_utc(row.finished_at),
    )


class LabStore:
    """Lab runs and cells over one ledger store (thread-safe as the store is)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create_run(
        self,
        name: str,
        experiment_path: str,
        fingerprint: str,
        plan: dict[str, Any],
        total_cells: int,
        max_usd: Decimal | None,
        gateway: str,
    ) -> RunInfo:
        now = _now()
        values = {
            "id": secrets.token_hex(4),
            "name": name,
            "experiment_path": experiment_path,
            "fingerprint": fingerprint,
            "plan": json.dumps(plan, ensure_ascii=False),
            "total_cells": total_cells,
            "status": RUNNING,
            "stop_reason": None,
            "max_usd": max_usd,
            "gateway": gateway,
            "created_at": now,
            "updated_at": now,
        }
        with self.store.engine.connect().execution_options(llmtally_write=True) as conn:
            with conn.begin():
                conn.execute(lab_runs.insert().values(**values))
        return self.get_run(str(values["id"]))

    def find_run(self, fingerprint: str) -> RunInfo | None:
        """The latest run of the experiment with this fingerprint."""
        query = (
            select(lab_runs)
            .where(lab_runs.c.fingerprint == fingerprint)
            .order_by(lab_runs.c.created_at.desc())
            .limit(1)
        )
        with self.store.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _run(row)

    def get_run(self, ref: str | None = None) -> RunInfo:
        """A run by id or unique id prefix; the latest run when ``ref`` is None."""
        query = select(lab_runs).order_by(lab_runs.c.created_at.desc())
        if ref is not None:
            query = query.where(lab_runs.c.id.startswith(ref, autoescape=True)).limit(2)
        else:
            query = query.limit(1)
        with self.store.engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            raise RunNotFoundError(
                f"no lab run {ref!r} in this ledger" if ref else "no lab run in this ledger yet"
            )
        if len(rows) > 1 and rows[0].id != ref:
            raise RunNotFoundError(
                f"{ref!r} matches several runs ({rows[0].id}, {rows[1].id}, ...)"
            )
        return _run(rows[0])

    def list_runs(self, limit: int = 50) -> list[RunInfo]:
        query = select(lab_runs).order_by(lab_runs.c.created_at.desc()).limit(limit)
        with self.store.engine.connect() as conn:
            return [_run(row) for row in conn.execute(query)]

    def start_session(self, run_id: str, max_usd: Decimal | None) -> None:
        """The run is running again, under this session's budget cap."""
        self._update(run_id, status=RUNNING, stop_reason=None, max_usd=max_usd)

    def set_status(self, run_id: str, status: str, reason: str | None = None) -> None:
        self._update(run_id, status=status, stop_reason=reason)

    def _update(self, run_id: str, **values: Any) -> None:
        stmt = update(lab_runs).where(lab_runs.c.id == run_id).values(**values, updated_at=_now())
        with self.store.engine.connect().execution_options(llmtally_write=True) as conn:
            with conn.begin():
                conn.execute(stmt)

    def save_cell(self, cell: CellRecord) -> None:
        """Store a finished cell (replacing an earlier failed try of it)."""
        values = {
            "run_id": cell.run_id,
            "cell_key": cell.cell_key,
            "prompt_id": cell.prompt_id,
            "row_index": cell.row_index,
            "model": cell.model,
            "repetition": cell.repetition,
            "row_values": json.dumps(cell.row, ensure_ascii=False),
            "status": cell.status,
            "output": cell.output,
            "call_id": cell.call_id,
            "attempts": cell.attempts,
            "error": cell.error,
            "checks": _checks_json(cell.checks),
            "passed": cell.passed,
            "client_latency_ms": cell.client_latency_ms,
            "client_ttft_ms": cell.client_ttft_ms,
            "finished_at": cell.finished_at,
        }
        key = and_(lab_cells.c.run_id == cell.run_id, lab_cells.c.cell_key == cell.cell_key)
        with self.store.engine.connect().execution_options(llmtally_write=True) as conn:
            with conn.begin():
                conn.execute(delete(lab_cells).where(key))
                conn.execute(lab_cells.insert().values(**values))
                touched = update(lab_runs).where(lab_runs.c.id == cell.run_id)
                conn.execute(touched.values(updated_at=_now()))

    def update_checks(
        self, run_id: str, results: Iterable[tuple[str, tuple[CheckResult, ...], bool | None]]
    ) -> None:
        """New check results for finished cells (checks change; outputs do not)."""
        with self.store.engine.connect().execution_options(llmtally_write=True) as conn:
            with conn.begin():
                for key, checks, passed in results:
                    stmt = (
                        update(lab_cells)
                        .where(and_(lab_cells.c.run_id == run_id, lab_cells.c.cell_key == key))
                        .values(checks=_checks_json(checks), passed=passed)
                    )
                    conn.execute(stmt)

    def cells(self, run_id: str) -> list[CellRecord]:
        query = (
            select(lab_cells)
            .where(lab_cells.c.run_id == run_id)
            .order_by(lab_cells.c.repetition, lab_cells.c.row_index, lab_cells.c.prompt_id)
        )
        with self.store.engine.connect() as conn:
            return [_cell(row) for row in conn.execute(query)]

    def calls(self, run_id: str) -> list[Attempt]:
        """Every ledger row of the run's attempts (by trace id range on the index)."""
        low = trace_prefix(run_id)
        high = low[:-1] + ";"  # the character after ':'
        query = (
            select(calls)
            .where(and_(calls.c.trace_id >= low, calls.c.trace_id < high))
            .order_by(calls.c.started_at)
        )
        with self.store.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [Attempt(row_to_call(row), row["cost_total"]) for row in rows]

    def attempt(self, trace_id: str) -> Attempt | None:
        """The ledger row of one attempt, once the gateway's writer has stored it."""
        query = select(calls).where(calls.c.trace_id == trace_id).limit(1)
        with self.store.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else Attempt(row_to_call(row), row["cost_total"])
