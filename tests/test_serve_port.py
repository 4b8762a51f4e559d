"""Which port ``llmtally serve`` listens on, and a port in use: one line on stderr
before the banner, a non-zero exit, no traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway_support import LLMTALLY, free_port, wait_up
from llmtally.cli import app

REPO = Path(__file__).resolve().parents[1]
BANNER = "llmtally gateway:"
CONFIG = (
    "upstreams:\n"
    "  openai: {kind: openai, base_url: 'http://127.0.0.1:9'}\n"
    "routes:\n"
    "  - {match: '*', upstream: openai}\n"
)


@pytest.fixture
def occupied() -> Iterator[int]:
    """A loopback port that another program is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    config = tmp_path / "llmtally.yaml"
    config.write_text(CONFIG)
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    environ = {k: v for k, v in os.environ.items() if k != "LLMTALLY_PORT"}
    environ |= {"LLMTALLY_HOME": str(tmp_path / "home"), **(env or {})}
    return subprocess.Popen(
        [LLMTALLY, "serve", "--config", str(config), "--database-url", database, *args],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _refused(process: subprocess.Popen[str]) -> tuple[str, str]:
    out, err = process.communicate(timeout=60)
    assert process.returncode not in (0, None), (out, err)
    return out, err


def test_a_port_in_use_is_one_line_before_the_banner(tmp_path: Path, occupied: int) -> None:
    out, err = _refused(_serve(tmp_path, "--port", str(occupied)))
    assert BANNER not in out
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"127.0.0.1:{occupied}" in lines[0] and "already in use" in lines[0]


def test_the_port_comes_from_llmtally_port_when_not_given(tmp_path: Path, occupied: int) -> None:
    _, err = _refused(_serve(tmp_path, env={"LLMTALLY_PORT": str(occupied)}))
    assert f"127.0.0.1:{occupied}: port {occupied} is already in use" in err


def test_serve_listens_on_the_port_from_the_environment(tmp_path: Path) -> None:
    port = free_port()
    process = _serve(tmp_path, env={"LLMTALLY_PORT": str(port)})
    try:
        wait_up(f"http://127.0.0.1:{port}", process)  # type: ignore[arg-type]
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert f"{BANNER} http://localhost:{port}" in out


def test_a_port_out_of_range_is_refused_by_the_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["serve", "--port", "70000"], env={"LLMTALLY_HOME": str(tmp_path)}
    )
    assert result.exit_code == 2
    assert "--port" in result.stderr and "65535" in result.stderr
    assert "Traceback" not in result.stderr


def _make_run(*args: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("PORT", "MAKEFLAGS", "MFLAGS")}
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", *args],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def test_make_run_port_picks_the_port() -> None:
    assert _make_run("PORT=4100").endswith("llmtally serve --port 4100")
    assert _make_run().endswith("llmtally serve")  # then LLMTALLY_PORT, else 4000
