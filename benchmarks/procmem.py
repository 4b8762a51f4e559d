"""Memory and CPU time of a process and its children, read from /proc (Linux).

Used by benchmarks/gateway.py and benchmarks/gateway_workers.py (issue 16: memory
per worker at rest and under load, CPU per request per worker). No psutil: the
benchmark's environment does not have it, and /proc says the same. RSS is resident
memory (shared pages counted in every process that maps them); USS is the memory
only that process holds (``Private_Clean + Private_Dirty`` in ``smaps_rollup``):
what a further worker costs. PSS splits shared pages among their users.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Memory:
    pid: int
    name: str
    rss_kib: int
    uss_kib: int
    pss_kib: int


def children(pid: int) -> list[int]:
    """The pid's descendants, depth first (every thread's children file)."""
    found: list[int] = []
    tasks = PROC / str(pid) / "task"
    try:
        tids = [t.name for t in tasks.iterdir()]
    except OSError:
        return found
    for tid in tids:
        try:
            text = (tasks / tid / "children").read_text()
        except OSError:
            continue
        for child in (int(c) for c in text.split()):
            found.append(child)
            found.extend(children(child))
    return found


def tree(pid: int) -> list[int]:
    return [pid, *children(pid)]


def memory(pid: int) -> Memory | None:
    """RSS, USS and PSS of one process; None when it is gone."""
    try:
        rollup = (PROC / str(pid) / "smaps_rollup").read_text()
        name = (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return None
    fields: dict[str, int] = {}
    for line in rollup.splitlines()[1:]:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[key] = int(parts[0])
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return Memory(pid, name, fields.get("Rss", 0), uss, fields.get("Pss", 0))


def tree_memory(pid: int) -> list[Memory]:
    return [m for m in (memory(p) for p in tree(pid)) if m is not None]


def describe(memories: list[Memory]) -> str:
    """'RSS 61.2 MiB, USS 40.1 MiB in 3 processes (pid 1 llmtally 20.0/15.0, ...)'."""
    rss = sum(m.rss_kib for m in memories) / 1024
    uss = sum(m.uss_kib for m in memories) / 1024
    each = ", ".join(f"{m.name} {m.rss_kib / 1024:.1f}/{m.uss_kib / 1024:.1f}" for m in memories)
    count = len(memories)
    return f"RSS {rss:.1f} MiB, USS {uss:.1f} MiB in {count} process(es) [RSS/USS MiB: {each}]"


def report(named: list[tuple[str, dict[str, list[Memory]]]]) -> list[str]:
    """One line per target and moment (in the order the moments were taken)."""
    width = max((len(when) for _, memory in named for when in memory), default=0)
    return [
        f"  {name:16} {when:{width}}: {describe(memories)}"
        for name, memory in named
        for when, memories in memory.items()
        if memories
    ]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (all its threads); 0 when it is gone."""
    return cpu_seconds_of(PROC / str(pid))


def cpu_seconds_of(folder: Path) -> float:
    """User + system CPU of /proc/PID or /proc/PID/task/TID; 0 when it is gone."""
    try:
        stat = (folder / "stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread name of one process (threads of one name summed)."""
    out: dict[str, float] = {}
    tasks = PROC / str(pid) / "task"
    try:
        tids = list(tasks.iterdir())
    except OSError:
        return out
    for task in tids:
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / TICKS
    return out
