"""Is a budget holder's process still running? Asked before its reservations are swept.

A lease alone cannot tell a dead process from a live one whose heartbeat is
late (a process starved of CPU, or blocked for a while): sweeping a live
holder frees reservations its calls still use, and the budget can be passed.
On Linux a process on the same machine can be checked directly: a holder
records where it runs (the kernel's boot id and its PID namespace, which tell
two containers on one host apart) and its PID with the PID's start time (so a
reused PID is not mistaken for it). Then a dead local holder is swept at once,
a live one never by its lease alone; a holder elsewhere is judged by its lease.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Process", "this_process"]

_PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class Process:
    """Where a holder runs: ``machine`` is None where it cannot be told."""

    machine: str | None
    pid: int
    started: int | None  # the PID's start time, in clock ticks since boot

    def alive(self, here: Process) -> bool | None:
        """True or False for a process on ``here``'s machine, None for another."""
        if self.machine is None or self.machine != here.machine:
            return None
        return _start_time(self.pid) == self.started


def this_process() -> Process:
    pid = os.getpid()
    return Process(_machine(), pid, _start_time(pid))


def _machine() -> str | None:
    try:
        boot = (_PROC / "sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink(_PROC / "self/ns/pid")
    except OSError:
        return None
    return f"{boot}/{namespace}"


def _start_time(pid: int) -> int | None:
    """The start time of ``pid`` (None: no such process, or a zombie)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    if fields[0] in ("Z", "X"):  # exited, not yet reaped: dead
        return None
    return int(fields[19])  # field 22 of proc_pid_stat(5)
