"""What the lab tests share: a gateway config over the replay upstream (and the
local model), experiment files, a silent progress, and the ledger read in plain
SQL (never through the lab's own queries)."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from gateway_support import free_port
from llmtally.ledger import Store, open_store

OPENAI_MODEL = "gpt-4o-mini"  # tests/fixtures/transcripts/openai_chat_stream_usage.json
OPENAI_TEXT = "Hello! How can I help?"
ANTHROPIC_MODEL = "claude-sonnet-4-20250514"  # .../anthropic_messages_stream.json
ANTHROPIC_TEXT = "Hello!"


def gateway_config(tmp_path: Path, replay_url: str, local: bool = False) -> Path:
    """``llmtally.yaml`` routing OpenAI, Claude and Gemini models to the replay server
    (and ``local/*`` to the embedded model on a free port)."""
    lines = [
        "upstreams:",
        f"  openai: {{kind: openai, base_url: '{replay_url}'}}",
        f"  anthropic: {{kind: anthropic, base_url: '{replay_url}'}}",
        f"  google: {{kind: gemini, base_url: '{replay_url}'}}",
    ]
    if local:
        lines.append(
            f"  local: {{kind: openai, base_url: 'http://127.0.0.1:{free_port()}', "
            "provider: local, usd_per_hour: '0.126', spawn: llama-cpp}"
        )
    lines.append("routes:")
    if local:
        lines.append("  - {match: 'local/*', upstream: local, strip_prefix: true}")
    lines += [
        "  - {match: 'claude-*', upstream: anthropic}",
        "  - {match: 'gemini-*', upstream: google}",
        "  - {match: '*', upstream: openai}",
    ]
    path = tmp_path / "llmtally.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


@dataclass
class Quiet:
    """A Progress that remembers what it was told."""

    total: int = 0
    done_before: int = 0
    retries: list[str] = field(default_factory=list)
    stopped: bool = False

    def started(self, total: int, done: int) -> None:
        self.total, self.done_before = total, done

    cells: list[tuple[str, bool]] = field(default_factory=list)

    def finished(self, cell: Any, ok: bool) -> None:
        self.cells.append((cell.key, ok))

    def retrying(self, cell: Any, error: str, delay: float) -> None:
        self.retries.append(error)

    def interrupted(self) -> None:
        self.stopped = True


def run_rows(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The ledger rows tagged with the run, in plain SQL over the tags column."""
    needle = f'%"lab-run:{run_id}"%'
    query = text(
        "SELECT id, trace_id, feature, tags, status, cost_total, input_tokens, output_tokens,"
        " latency_ms, ttft_ms, model_requested FROM calls WHERE tags LIKE :needle"
    )
    with store.engine.connect() as conn:
        return [dict(row) for row in conn.execute(query, {"needle": needle}).mappings()]


def money(value: Any, dialect: str = "sqlite") -> Decimal:
    """A raw ``cost_total`` column value as dollars (SQLite keeps 1e-10 units)."""
    if value is None:
        return Decimal(0)
    return Decimal(int(value)) / Decimal(10) ** 10 if dialect == "sqlite" else Decimal(value)


def rows_per_cell(rows: list[dict[str, Any]]) -> Counter[str]:
    """Ledger rows per cell: trace ids are ``lab:<run>:<cell>:<attempt>``."""
    return Counter(str(row["trace_id"]).split(":")[2] for row in rows)


def tags(row: dict[str, Any]) -> list[str]:
    return list(json.loads(row["tags"]))


@contextlib.contextmanager
def replayed_run(tmp: Path, experiment: str) -> Iterator[tuple[Store, Any]]:
    """``experiment`` run to completion against the replay upstream (a private
    LLMTALLY_HOME in ``tmp``); yields the open ledger and the run's results."""
    from llmtally.lab.results import load_results
    from llmtally.lab.session import LabOptions, run_experiment
    from llmtally.lab.store import LabStore
    from replay_upstream import ReplayUpstream

    database = f"sqlite:///{tmp / 'ledger.sqlite3'}"
    with pytest.MonkeyPatch.context() as patch, ReplayUpstream() as upstream:
        patch.setenv("LLMTALLY_HOME", str(tmp / "home"))
        path, config = write(tmp, "exp.yaml", experiment), gateway_config(tmp, upstream.url)
        outcome = run_experiment(path, LabOptions(config=config, database_url=database), Quiet())
    assert outcome.run.status == "complete", outcome.run.stop_reason
    with open_store(database) as store:
        yield store, load_results(LabStore(store), outcome.run.id)
