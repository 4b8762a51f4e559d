"""Running a plan's cells through the gateway: bounded concurrency per provider,
retries with exponential backoff and full jitter, the budget reserved before
each attempt and settled to the ledger's cost after, and each cell stored as
soon as it finishes (so an interrupted run resumes where it stopped).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import secrets
import signal
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from llmtally.lab.budget import Budget, WorstCase
from llmtally.lab.clients import Clients, Reply, SendError
from llmtally.lab.plan import Cell, Plan, Target
from llmtally.lab.store import Attempt, CellRecord, LabStore, RunInfo, trace_prefix
from llmtally.meter import decimal_text

__all__ = ["LabError", "Progress", "RunOptions", "RunTally", "backoff_delay", "execute"]

POLL_S = 0.02


class LabError(RuntimeError):
    """The run cannot go on (e.g. the gateway does not write to this ledger)."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    max_usd: Decimal | None = None
    concurrency: int = 4  # calls in flight per provider (a machine of your own: 1)
    attempts: int = 5  # tries per cell, on 429, 5xx and dropped connections
    backoff_s: float = 0.5
    backoff_max_s: float = 30.0
    ledger_wait_s: float = 30.0  # for the gateway's row of a call to reach the ledger
    api_key: str | None = None  # a gateway key, when the gateway asks for one


class Progress(Protocol):
    def started(self, total: int, done: int) -> None: ...

    def finished(self, cell: Cell, ok: bool) -> None: ...

    def retrying(self, cell: Cell, error: str, delay: float) -> None: ...

    def interrupted(self) -> None:
        """Ctrl-C: the calls in flight finish and are kept; nothing new starts."""


@dataclass(slots=True)
class RunTally:
    """What one session of a run did."""

    ran: int = 0
    failed: int = 0
    skipped: int = 0  # finished in an earlier session
    spent: Decimal = Decimal(0)  # the whole run's ledger cost, earlier sessions included
    budget_stop: str | None = None


def backoff_delay(
    attempt: int,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Full jitter: uniform in [0, min(cap, base x 2^(attempt-1))], but never
    sooner than the server's Retry-After (itself capped)."""
    ceiling = min(cap, base * 2.0 ** (attempt - 1))
    delay = rand() * ceiling
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


def _cost(attempt: Attempt | None) -> Decimal:
    return attempt.cost if attempt is not None and attempt.cost is not None else Decimal(0)


def _limit_key(target: Target) -> str:
    # a machine of your own serves one call at a time (and is priced by its time)
    return f"upstream:{target.upstream}" if target.time_priced else f"provider:{target.provider}"


class _Runner:
    def __init__(
        self,
        plan: Plan,
        run: RunInfo,
        lab: LabStore,
        clients: Clients,
        options: RunOptions,
        progress: Progress,
        worst: WorstCase,
        budget: Budget,
    ) -> None:
        self.plan, self.run, self.lab, self.clients = plan, run, lab, clients
        self.options, self.progress, self.worst, self.budget = options, progress, worst, budget
        self.tally = RunTally()
        self.fatal: str | None = None
        self.stopping = False  # Ctrl-C once: finish the calls in flight, start no more
        self._limits: dict[str, asyncio.Semaphore] = {}

    def _limit(self, target: Target) -> asyncio.Semaphore:
        key = _limit_key(target)
        if key not in self._limits:
            size = 1 if target.time_priced else self.options.concurrency
            self._limits[key] = asyncio.Semaphore(size)
        return self._limits[key]

    def _headers(self, trace_id: str) -> dict[str, str]:
        return {
            "x-llmtally-feature": "lab",
            "x-llmtally-tags": f"lab,{self.run.tag}",
            "x-llmtally-trace-id": trace_id,
        }

    async def _ledger_row(self, trace_id: str, wait_s: float) -> Attempt | None:
        """The gateway's ledger row for one attempt, once its writer has stored it."""
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            found = await asyncio.to_thread(self.lab.attempt, trace_id)
            if found is not None or asyncio.get_running_loop().time() >= deadline:
                return found
            await asyncio.sleep(POLL_S)

    async def cell(self, cell: Cell) -> None:
        target = self.plan.targets[cell.model]
        async with self._limit(target):
            for attempt in range(1, self.options.attempts + 1):
                if self.fatal is not None or self.stopping:
                    return
                reserve = self.worst.of(cell, target)
                if not await self.budget.reserve(reserve):
                    self._budget_stop(reserve)
                    return
                if await self._attempt(cell, target, attempt, reserve):
                    return

    def _budget_stop(self, reserve: Decimal) -> None:
        if self.tally.budget_stop is None and self.budget.limit is not None:
            self.tally.budget_stop = (
                f"the next call's worst case (${decimal_text(reserve)}) would take the run past "
                f"--max-usd ${decimal_text(self.budget.limit)} "
                f"(spent ${decimal_text(self.budget.spent)})"
            )

    async def _attempt(self, cell: Cell, target: Target, attempt: int, reserve: Decimal) -> bool:
        """One try; True when the cell is finished (answered, or failed for good)."""
        trace_id = trace_prefix(self.run.id, cell.key) + secrets.token_hex(4)
        try:
            reply = await self.clients.send(cell, target, self._headers(trace_id))
        except SendError as error:
            wait = self.options.ledger_wait_s if error.retryable else 2.0
            row = await self._ledger_row(trace_id, wait if error.reached else 0.0)
            await self.budget.settle(reserve, _cost(row))
            if not error.retryable or attempt == self.options.attempts:
                await self._save(cell, attempt, None, None, str(error))
                return True
            delay = backoff_delay(
                attempt, self.options.backoff_s, self.options.backoff_max_s, error.retry_after
            )
            self.progress.retrying(cell, str(error), delay)
            await asyncio.sleep(delay)
            return False
        row = await self._ledger_row(trace_id, self.options.ledger_wait_s)
        await self.budget.settle(reserve, _cost(row))
        if row is None:
            self.fatal = (
                f"the gateway at {self.clients.base_url} answered, but its record of the call "
                f"(trace {trace_id}) did not reach this ledger within "
                f"{self.options.ledger_wait_s:.0f} s: point --database-url at the database "
                "that gateway writes to"
            )
            return True
        await self._save(cell, attempt, reply, row, None)
        return True

    async def _save(
        self,
        cell: Cell,
        attempts: int,
        reply: Reply | None,
        row: Attempt | None,
        error: str | None,
    ) -> None:
        checks = tuple(self.plan.checks.run(reply.text, cell.row)) if reply is not None else ()
        passed = (reply is not None and all(c.passed for c in checks)) if self.plan.checks else None
        record = CellRecord(
            run_id=self.run.id,
            cell_key=cell.key,
            prompt_id=cell.prompt_id,
            row_index=cell.row_index,
            model=cell.model,
            repetition=cell.repetition,
            row=dict(cell.row),
            status="ok" if reply is not None else "failed",
            output=reply.text if reply is not None else None,
            call_id=row.call.id if row is not None else None,
            attempts=attempts,
            error=error,
            checks=checks,
            passed=passed,
            client_latency_ms=reply.latency_ms if reply is not None else None,
            client_ttft_ms=reply.ttft_ms if reply is not None else None,
            finished_at=dt.datetime.now(dt.UTC),
        )
        await asyncio.to_thread(self.lab.save_cell, record)
        if reply is not None:
            self.tally.ran += 1
        else:
            self.tally.failed += 1
        self.progress.finished(cell, reply is not None)


def _on_ctrl_c(runner: _Runner, main: asyncio.Task[object] | None) -> Callable[[], None]:
    def handle() -> None:
        if runner.stopping and main is not None:
            main.cancel()  # the second Ctrl-C: stop at once
            return
        runner.stopping = True
        runner.progress.interrupted()

    return handle


async def _run_cells(runner: _Runner, todo: list[Cell]) -> None:
    """All cells; the first Ctrl-C lets the calls in flight finish (they are paid for)."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, _on_ctrl_c(runner, asyncio.current_task()))
        installed = True
    except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
        installed = False
    try:
        await asyncio.gather(*(runner.cell(cell) for cell in todo))
    except asyncio.CancelledError:
        if runner.stopping:
            raise KeyboardInterrupt from None
        raise
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)
    if runner.stopping:
        raise KeyboardInterrupt


async def execute(
    plan: Plan,
    run: RunInfo,
    lab: LabStore,
    gateway_url: str,
    options: RunOptions,
    progress: Progress,
    worst: WorstCase,
) -> RunTally:
    """Run the plan's unfinished cells; returns what this session did."""
    finished = {c.cell_key for c in await asyncio.to_thread(lab.cells, run.id) if c.status == "ok"}
    todo = [cell for cell in plan.cells if cell.key not in finished]
    earlier = sum((_cost(c) for c in await asyncio.to_thread(lab.calls, run.id)), Decimal(0))
    budget = Budget(options.max_usd, earlier)
    clients = Clients(gateway_url, options.api_key)
    runner = _Runner(plan, run, lab, clients, options, progress, worst, budget)
    runner.tally.skipped = len(plan.cells) - len(todo)
    progress.started(len(plan.cells), runner.tally.skipped)
    try:
        await _run_cells(runner, todo)
    finally:
        await clients.aclose()
    if runner.fatal is not None:
        raise LabError(runner.fatal)
    runner.tally.spent = budget.spent
    return runner.tally
