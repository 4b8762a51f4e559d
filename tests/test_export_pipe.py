"""``llmtally export ... | head``: a reader that stops early ends the export quietly."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from gateway_support import LLMTALLY
from llmtally.ledger import open_store
from llmtally.usage import Call, Usage, new_ulid

T0 = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)


def _ledger(tmp_path: Path, calls: int) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    rows = [
        Call(
            id=new_ulid(),
            started_at=T0 + dt.timedelta(seconds=i),
            provider="openai",
            model_requested="gpt-4o",
            model_served="gpt-4o",
            endpoint="/v1/chat/completions",
            status=200,
            latency_ms=12.0,
            usage=Usage(input_tokens=100, output_tokens=10),
        )
        for i in range(calls)
    ]
    with open_store(url) as store:
        store.insert_many(rows)
    return url


def test_export_into_a_reader_that_closes_early_exits_quietly(tmp_path: Path) -> None:
    # 3,000 rows of CSV are far more than a pipe holds: the export is still
    # writing when the reader goes away after one line (as `| head -1` does).
    url = _ledger(tmp_path, 3000)
    for fmt in ("csv", "jsonl"):
        with subprocess.Popen(
            [LLMTALLY, "export", "--format", fmt, "--database", url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as export:
            assert export.stdout is not None and export.stderr is not None
            first = export.stdout.readline()
            export.stdout.close()
            err = export.stderr.read().decode()
            code = export.wait(timeout=60)
        assert code == 0, err
        assert first.strip(), fmt
        assert err == "", err  # no "Broken pipe", no traceback, no "exported N calls"
