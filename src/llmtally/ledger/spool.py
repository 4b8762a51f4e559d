"""The durable spool: an append-only JSONL file of rows the database did not take.

One line per call: ``{"call": <row as JSON>, "bodies": <body row> | null}``.
Each append is one write followed by ``fsync``. A line torn by a crash is
skipped when read (a later append starts on a new line, so it tears nothing
else). Replaying renames the file to ``<name>.replaying`` first and deletes it
only once every row is in the database; a crash in between replays it again,
which stores nothing twice because inserts are idempotent by id.

Files are created readable by their owner only (they hold prompts). One
``Spool`` may be appended to by one thread while another replays it: a lock
keeps an append from landing in a file that has just been renamed for replay.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from llmtally import fastjson
from llmtally.ledger.rows import row_from_json, row_to_json

__all__ = ["Pair", "Spool", "encode_lines", "fsync_dir", "pid_alive"]

Pair = tuple[dict[str, Any], dict[str, Any] | None]  # (calls row, call_bodies row)
_log = logging.getLogger(__name__)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encode_lines(pairs: Sequence[Pair]) -> bytes:
    """Rows as spool lines (JSONL, UTF-8)."""
    return b"".join(
        fastjson.dumps_line({"call": row_to_json(row), "bodies": bodies}) for row, bodies in pairs
    )


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine, whoever owns it: a spool
    named after a process that does not is free to be claimed."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


class Spool:
    """The spool file and the file being replayed beside it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.replaying = path.with_name(path.name + ".replaying")
        self.torn_lines = 0
        self._lock = threading.Lock()

    def append(self, pairs: Sequence[Pair]) -> None:
        """Append rows durably (one write, then fsync; the folder too when the
        file is new)."""
        data = encode_lines(pairs)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            with open(fd, "ab+") as handle:
                created = handle.tell() == 0
                if not created:
                    handle.seek(-1, os.SEEK_END)
                    if handle.read(1) != b"\n":  # a torn line from a crash: end it
                        data = b"\n" + data
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if created:
                fsync_dir(self.path.parent)

    def pending(self) -> bool:
        """Whether any rows wait for replay. Safe from any thread: the spool is
        looked at before the replay file, the order in which a replay renames."""
        for path in (self.path, self.replaying):
            try:
                if path.stat().st_size > 0:
                    return True
            except OSError:  # missing, or its folder is not one (nothing to replay there)
                continue
        return False

    def start_replay(self) -> Path | None:
        """The file to replay next: a replay left unfinished, else the spool
        (renamed, so appends go to a new file meanwhile); None when there is none."""
        if self.replaying.exists():
            return self.replaying
        with self._lock:
            if not self.path.exists() or self.path.stat().st_size == 0:
                return None
            os.replace(self.path, self.replaying)
        fsync_dir(self.path.parent)
        return self.replaying

    def finish_replay(self) -> None:
        self.replaying.unlink(missing_ok=True)
        fsync_dir(self.path.parent)

    def read(self, path: Path, skip: int = 0) -> Iterator[tuple[int, Pair]]:
        """(line number, row) of ``path`` after the first ``skip`` lines; torn lines
        are skipped."""
        with open(path, encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle):
                if number < skip or not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    pair: Pair = (row_from_json(data["call"]), data["bodies"])
                except (ValueError, KeyError, TypeError) as exc:
                    self.torn_lines += 1
                    _log.warning(
                        "%s line %d: skipped a torn spool line (%s)", path, number + 1, exc
                    )
                    continue
                yield number, pair

    def chunks(self, path: Path, size: int, skip: int = 0) -> Iterator[tuple[list[Pair], int]]:
        """The rows of :meth:`read` in lists of up to ``size``, each with the line
        number of its last row (where a replay that stops after it resumes)."""
        chunk: list[Pair] = []
        last = skip - 1
        for number, pair in self.read(path, skip):
            chunk.append(pair)
            last = number
            if len(chunk) >= size:
                yield chunk, last
                chunk = []
        if chunk:
            yield chunk, last
