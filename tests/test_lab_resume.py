"""Interrupted runs resume where they stopped: a finished cell is never sent
again (one ledger row per finished cell), after Ctrl-C or a SIGKILL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway_support import LLMTALLY
from lab_support import (
    ANTHROPIC_MODEL,
    OPENAI_MODEL,
    Quiet,
    gateway_config,
    rows_per_cell,
    run_rows,
    write,
)
from llmtally.cli import app
from llmtally.lab.session import LabOptions, run_experiment
from llmtally.lab.store import LabStore
from llmtally.ledger import open_store
from replay_upstream import ReplayUpstream

ROWS = 6
EXPERIMENT = f"""\
name: resume
prompts:
  - id: p
    user: "Say hello, friend number {{n}}."
dataset: [{", ".join(f"{{n: '{i}'}}" for i in range(1, ROWS + 1))}]
models:
  - {{model: {OPENAI_MODEL}, max_tokens: 16}}
  - {{model: {ANTHROPIC_MODEL}, max_tokens: 16}}
"""
CELLS = ROWS * 2


class StopAfter(Quiet):
    """Ctrl-C (a real SIGINT to this process) once ``n`` cells have finished."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def finished(self, cell: Any, ok: bool) -> None:
        super().finished(cell, ok)
        if len(self.cells) == self.n:
            os.kill(os.getpid(), signal.SIGINT)


def _finished(database: Path) -> set[str]:
    with sqlite3.connect(database) as conn:
        return {key for (key,) in conn.execute("SELECT cell_key FROM lab_cells")}


def _check_resumed(database: str, run_id: str, before: set[str], in_flight: int) -> None:
    with open_store(database) as store:
        rows = run_rows(store, run_id)
        cells = LabStore(store).cells(run_id)
    per_cell = rows_per_cell(rows)
    assert len(cells) == CELLS and all(c.status == "ok" for c in cells)
    assert set(per_cell) == {c.cell_key for c in cells}
    for key in before:  # finished before the stop: sent once, never again
        assert per_cell[key] == 1, key
    # a call cut by a kill may have reached the ledger too (and was sent again)
    assert 0 <= len(rows) - CELLS <= in_flight


def test_ctrl_c_mid_run_then_resume_skips_finished_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replay_upstream: ReplayUpstream
) -> None:
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    replay_upstream.delay = 0.01
    path, config = (
        write(tmp_path, "exp.yaml", EXPERIMENT),
        gateway_config(tmp_path, replay_upstream.url),
    )
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    with pytest.raises(KeyboardInterrupt):
        options = LabOptions(config=config, database_url=database, concurrency=2)
        run_experiment(path, options, StopAfter(2))
    # the calls in flight at Ctrl-C finish and are stored (they are paid for); none starts
    before = _finished(tmp_path / "ledger.sqlite3")
    # 2 in flight per provider (and one a finishing call handed its slot to)
    assert 2 <= len(before) <= 2 + 4 + 2 < CELLS
    with open_store(database) as store:
        (run,) = LabStore(store).list_runs()
    assert run.status == "interrupted"
    sent = len(replay_upstream.served)
    result = CliRunner().invoke(
        app,
        ["lab", "resume", run.id, "--config", str(config), "--database-url", database, "--json"],
    )
    assert result.exit_code == 0, result.output
    assert len(replay_upstream.served) - sent == CELLS - len(before)
    _check_resumed(database, run.id, before, in_flight=0)


def test_a_killed_subprocess_resumes_without_repeating_finished_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replay_upstream: ReplayUpstream
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("LLMTALLY_HOME", str(home))
    replay_upstream.delay = 0.05  # about 0.4 s a call: time to kill it mid-run
    path, config = (
        write(tmp_path, "exp.yaml", EXPERIMENT),
        gateway_config(tmp_path, replay_upstream.url),
    )
    file = tmp_path / "ledger.sqlite3"
    database = f"sqlite:///{file}"
    command = [LLMTALLY, "lab", "run", str(path), "--config", str(config)]
    command += ["--database-url", database, "--concurrency", "1"]
    process = subprocess.Popen(
        command,
        env={**os.environ, "LLMTALLY_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the lab run never finished 3 cells"
            if file.exists() and len(_finished_or_none(file)) >= 3:
                break
            time.sleep(0.05)
    finally:
        process.kill()  # SIGKILL: no cleanup at all
        process.communicate(timeout=30)
    before = _finished(file)
    assert 3 <= len(before) < CELLS
    outcome = run_experiment(path, LabOptions(config=config, database_url=database), Quiet())
    assert outcome.tally.skipped == len(before)
    assert outcome.run.status == "complete"
    _check_resumed(database, outcome.run.id, before, in_flight=1)


def _finished_or_none(file: Path) -> set[str]:
    try:
        return _finished(file)
    except sqlite3.OperationalError:  # the tables are not there yet
        return set()
