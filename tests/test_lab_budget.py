"""The budget cap stops a run before it would overspend; retries back off on
429 and 5xx and give up on other errors."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from lab_support import OPENAI_MODEL, Quiet, gateway_config, money, rows_per_cell, run_rows, write
from llmtally.catalog import Catalog
from llmtally.gateway.serve import resolve_config
from llmtally.lab.budget import Budget, WorstCase
from llmtally.lab.plan import Cell, Target, build_plan
from llmtally.lab.results import load_results
from llmtally.lab.runner import backoff_delay
from llmtally.lab.session import LabOptions, run_experiment
from llmtally.lab.spec import ModelSpec as LabModelSpec
from llmtally.lab.store import LabStore
from llmtally.ledger import open_store
from llmtally.meter import cost
from llmtally.providers.wires import native_wire
from llmtally.usage import Usage
from replay_upstream import ReplayUpstream, load_transcripts

ROWS = 10
EXPERIMENT = f"""\
name: budget
prompts:
  - id: p
    user: "Say hello, friend number {{n}}."
dataset: [{", ".join(f"{{n: '{i}'}}" for i in range(1, ROWS + 1))}]
models:
  - {{model: {OPENAI_MODEL}, max_tokens: 400}}
"""


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    return tmp_path


def _worst_and_actual(path: Path, config: Path) -> tuple[Decimal, Decimal]:
    catalog = Catalog.load()
    plan = build_plan(path, resolve_config(config)[0], catalog, None)
    worst = WorstCase(catalog)
    worsts = {worst.of(cell, plan.targets[cell.model]) for cell in plan.cells}
    assert len(worsts) == 1, worsts  # every row costs the same at worst
    price = catalog.price_at("openai", OPENAI_MODEL, dt.datetime.now(dt.UTC))
    # the replayed answer's usage (openai_chat_stream_usage.json): 10 in, 6 out
    actual = cost(Usage(input_tokens=10, output_tokens=6), price).total
    return worsts.pop(), actual


@pytest.mark.parametrize("concurrency", [1, 4])
def test_the_cap_stops_the_run_before_the_next_call_could_overspend(
    lab: Path, replay_upstream: ReplayUpstream, concurrency: int
) -> None:
    path, config = write(lab, "exp.yaml", EXPERIMENT), gateway_config(lab, replay_upstream.url)
    database = f"sqlite:///{lab / 'ledger.sqlite3'}"
    worst, actual = _worst_and_actual(path, config)
    assert worst > 10 * actual  # max_tokens 400 at worst, 6 tokens in fact
    cap = worst + actual * Decimal("2.5")
    options = LabOptions(config=config, database_url=database, max_usd=cap, concurrency=concurrency)
    outcome = run_experiment(path, options, Quiet())
    # call k starts only if (k-1) settled calls + its worst case fit: k = 1, 2, 3
    assert len(replay_upstream.served) == 3
    assert outcome.run.status == "budget"
    assert outcome.run.stop_reason is not None and "--max-usd" in outcome.run.stop_reason
    with open_store(database) as store:
        rows = run_rows(store, outcome.run.id)
        results = load_results(LabStore(store), outcome.run.id)
    spent = sum((money(r["cost_total"]) for r in rows), Decimal(0))
    assert len(rows) == 3 and spent == 3 * actual <= cap
    assert spent + worst > cap  # the fourth call could have overspent: it was not sent
    assert results.pending == ROWS - 3
    # a larger cap on the same experiment resumes the run and finishes it
    more = LabOptions(config=config, database_url=database, max_usd=worst * 2 + 10 * actual)
    again = run_experiment(path, more, Quiet())
    assert again.run.id == outcome.run.id and again.run.status == "complete"
    assert len(replay_upstream.served) == ROWS


def test_a_cap_below_one_calls_worst_case_sends_nothing(
    lab: Path, replay_upstream: ReplayUpstream
) -> None:
    path, config = write(lab, "exp.yaml", EXPERIMENT), gateway_config(lab, replay_upstream.url)
    worst, _ = _worst_and_actual(path, config)
    options = LabOptions(
        config=config, database_url=f"sqlite:///{lab / 'l.sqlite3'}", max_usd=worst / 2
    )
    outcome = run_experiment(path, options, Quiet())
    assert outcome.run.status == "budget" and outcome.tally.ran == 0
    assert replay_upstream.served == []


class Flaky(ReplayUpstream):
    """Answers the first ``failures`` requests with the transcript ``failure``."""

    def __init__(self, failure: dict[str, Any], failures: int) -> None:
        transcripts = load_transcripts()
        transcripts["failure"] = failure
        super().__init__(transcripts)
        self.failures = failures

    def pick(self, method: str, path: str, body: Any, name: str | None) -> str:
        if self.failures > 0:
            self.failures -= 1
            return "failure"
        return super().pick(method, path, body, name)


def _error(status: int) -> dict[str, Any]:
    failure = copy.deepcopy(load_transcripts()["openai_error_429"])
    failure["response"]["status"] = status
    failure["response"]["headers"]["retry-after"] = "0"
    return failure


@pytest.mark.parametrize(
    ("status", "failures", "attempts", "ok"),
    [(429, 2, 3, True), (503, 5, 5, False), (400, 1, 1, False)],
)
def test_retries_back_off_on_429_and_5xx_only(
    lab: Path, status: int, failures: int, attempts: int, ok: bool
) -> None:
    path = write(lab, "exp.yaml", EXPERIMENT.replace("[{n: '1'}", "[{n: '1'}]  #"))
    database = f"sqlite:///{lab / 'ledger.sqlite3'}"
    progress = Quiet()
    with Flaky(_error(status), failures) as upstream:
        config = gateway_config(lab, upstream.url)
        options = LabOptions(config=config, database_url=database, backoff_s=0.01)
        outcome = run_experiment(path, options, progress)
        assert len(upstream.served) == attempts
    assert len(progress.retries) == attempts - 1
    assert all(f"HTTP {status}" in message for message in progress.retries)
    assert outcome.run.status == ("complete" if ok else "incomplete")
    with open_store(database) as store:
        rows = run_rows(store, outcome.run.id)
        (cell,) = load_results(LabStore(store), outcome.run.id).cells
    assert rows_per_cell(rows) == {cell.record.cell_key: attempts}  # every try is in the ledger
    assert cell.record.attempts == attempts and (cell.record.status == "ok") == ok
    assert cell.spent == sum((money(r["cost_total"]) for r in rows), Decimal(0))
    assert [r["status"] for r in rows].count(status) == min(failures, attempts)


def test_backoff_is_exponential_with_full_jitter_and_honours_retry_after() -> None:
    assert backoff_delay(1, 0.5, 30, rand=lambda: 1.0) == 0.5
    assert backoff_delay(4, 0.5, 30, rand=lambda: 1.0) == 4.0
    assert backoff_delay(10, 0.5, 30, rand=lambda: 1.0) == 30  # capped
    assert backoff_delay(3, 0.5, 30, rand=lambda: 0.0) == 0.0  # full jitter
    assert backoff_delay(1, 0.5, 30, retry_after=7, rand=lambda: 0.5) == 7
    assert backoff_delay(1, 0.5, 30, retry_after=600, rand=lambda: 0.5) == 30


def test_a_reservation_waits_for_calls_in_flight_then_fits_or_stops() -> None:
    async def scenario() -> list[object]:
        budget = Budget(Decimal(10))
        assert await budget.reserve(Decimal(6))
        waiting = asyncio.ensure_future(budget.reserve(Decimal(6)))
        await asyncio.sleep(0.01)
        assert not waiting.done()  # 6 + 6 > 10 while the first is in flight
        await budget.settle(Decimal(6), Decimal(1))  # it cost 1, not 6
        fits = await waiting  # 1 + 6 <= 10
        again = await asyncio.wait_for(_after(budget), 1)
        return [fits, again, budget.spent, budget.stopped]

    async def _after(budget: Budget) -> bool:
        await budget.settle(Decimal(6), Decimal(5))  # spent 6: another 6 cannot fit
        return await budget.reserve(Decimal(6))

    assert asyncio.run(scenario()) == [True, False, Decimal(6), True]


class _Prompt1000(WorstCase):
    """The worst case with the prompt's count pinned (the tokenizer is not under test)."""

    def prompt_tokens(self, cell: Cell, target: Target) -> int:
        return 1000


def _kimi_cn() -> tuple[Cell, Target]:
    spec = LabModelSpec(model="kimi-k2.5", max_tokens=1000)
    target = Target(spec, native_wire("openai"), "moonshot-cn", "kimi", None)
    cell = Cell("k", "p", 0, "kimi-k2.5", 1, None, "hi", {})
    return cell, target


def test_a_cny_priced_model_is_reserved_in_usd(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """moonshot-cn kimi-k2.5 bills ¥4.00 input / ¥21.00 output per 1M
    (moonshot_cn.yaml): 1,000 in + 1,000 out at worst = 0.004 + 0.021 = ¥0.025;
    at a test rate of 8 CNY per USD, 0.025 / 8 = $0.003125 against --max-usd."""
    rates = lab / "rates.yaml"
    rates.write_text(
        "rates:\n  - {date: 2026-01-01, base: USD, quote: CNY, rate: '8', source: test}\n"
    )
    monkeypatch.setenv("LLMTALLY_RATES", str(rates))
    cell, target = _kimi_cn()
    assert _Prompt1000(Catalog.load()).of(cell, target) == Decimal("0.003125")


def test_a_cny_priced_model_with_no_rate_is_an_error_not_free(
    lab: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rates = lab / "rates.yaml"
    rates.write_text("rates: [")  # unreadable: no rate can be had
    monkeypatch.setenv("LLMTALLY_RATES", str(rates))
    cell, target = _kimi_cn()
    with pytest.raises(ValueError, match="priced in CNY with no CNY->USD rate"):
        _Prompt1000(Catalog.load()).of(cell, target)
