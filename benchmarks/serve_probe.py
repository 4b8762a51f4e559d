"""``llmtally serve`` with its threads' ids written down, optionally under cProfile.

    .venv/bin/python benchmarks/serve_probe.py serve --port ... (llmtally's own arguments)

Used by ``benchmarks/gateway_workers.py --profile`` (issue 16: a per-call CPU profile).
Python 3.11 does not name OS threads, so ``/proc/PID/task/TID`` cannot say which
thread is the ledger writer: each thread, as it starts, appends ``TID name`` to the
file ``$BENCH_TIDS``. With ``$BENCH_PROFILE`` (a folder), every thread but the main
one runs under its own ``cProfile.Profile`` from its start; the main thread (the
event loop) is profiled from SIGUSR1, and SIGUSR2 writes every profile to
``$BENCH_PROFILE/<thread name>.prof``. The benchmark sends no request before
SIGUSR1, so all profiles cover the same calls. Nothing in ``src/`` is changed: the
hooks are ``threading.Thread.run`` and two signal handlers, set before llmtally starts.
"""

from __future__ import annotations

import cProfile
import marshal
import os
import signal
import sys
import threading
import time
from types import FrameType

TIDS = os.environ.get("BENCH_TIDS")
FOLDER = os.environ.get("BENCH_PROFILE")
PROFILES: list[tuple[str, cProfile.Profile]] = []
BASE: dict[int, dict[object, tuple]] = {}  # each thread's stats at SIGUSR1
MAIN = cProfile.Profile(time.thread_time)  # CPU, not wall: GIL waits not charged
_lock = threading.Lock()
_original_run = threading.Thread.run


def note(name: str) -> None:
    if TIDS:
        with _lock, open(TIDS, "a") as out:
            out.write(f"{threading.get_native_id()} {name}\n")


def _run(self: threading.Thread) -> None:
    note(self.name)
    if not FOLDER:
        _original_run(self)
        return
    profile = cProfile.Profile(time.thread_time)
    with _lock:
        PROFILES.append((self.name, profile))
    profile.enable()
    try:
        _original_run(self)
    finally:
        profile.disable()


def _start(_signum: int, _frame: FrameType | None) -> None:
    """The main thread's profile starts; the others' counts so far are set aside."""
    for _name, profile in PROFILES:
        BASE[id(profile)] = _snapshot(profile)
    MAIN.enable()


def _snapshot(profile: cProfile.Profile) -> dict[object, tuple]:
    """A running thread's stats without closing its open calls: ``create_stats``
    would close them with *this* thread's CPU clock, charging a waiting thread's
    queue.get with the main thread's time."""
    profile.snapshot_stats()
    return dict(profile.stats)  # type: ignore[attr-defined]


def _minus(now: dict[object, tuple], base: dict[object, tuple]) -> dict[object, tuple]:
    out: dict[object, tuple] = {}
    for func, (cc, nc, tt, ct, callers) in now.items():
        b = base.get(func)
        if b is None:
            out[func] = (cc, nc, tt, ct, callers)
            continue
        left = {}
        for caller, numbers in callers.items():
            old = b[4].get(caller)
            diff = tuple(x - y for x, y in zip(numbers, old, strict=True)) if old else numbers
            if diff[0] > 0:
                left[caller] = diff
        if nc - b[1] > 0:
            out[func] = (cc - b[0], nc - b[1], tt - b[2], ct - b[3], left)
    return out


def _dump(_signum: int, _frame: FrameType | None) -> None:
    """Every profile to a file (the GIL is held here, so no thread is mid-update)."""
    MAIN.disable()
    assert FOLDER
    seen: dict[str, int] = {}
    for name, profile in [("main", MAIN), *PROFILES]:
        seen[name] = seen.get(name, 0) + 1
        suffix = f"-{seen[name]}" if seen[name] > 1 else ""
        if profile is MAIN:
            MAIN.create_stats()
            stats = MAIN.stats  # type: ignore[attr-defined]
        else:
            stats = _minus(_snapshot(profile), BASE.get(id(profile), {}))
        with open(os.path.join(FOLDER, f"{name}{suffix}.prof"), "wb") as out:
            marshal.dump(stats, out)
    with open(os.path.join(FOLDER, "done"), "w") as out:
        out.write("done\n")


def main() -> None:
    threading.Thread.run = _run  # type: ignore[method-assign]
    note("main")
    if FOLDER:
        signal.signal(signal.SIGUSR1, _start)
        signal.signal(signal.SIGUSR2, _dump)
    from llmtally.cli import main as cli

    sys.argv = ["llmtally", *sys.argv[1:]]
    sys.exit(cli())


if __name__ == "__main__":
    main()
