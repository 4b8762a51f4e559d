"""The last place for recorded calls when a stopping writer can reach neither
the database nor the spool (database down and spool disk full, together).

Each such exit writes one file, ``llmtally-spool-<key>-<pid>-<ns>.jsonl`` in
the first fallback folder that takes it (``ledger.fallback_dir`` when set,
else the temporary folder, else ``/dev/shm``: memory, so a full disk cannot
stop it). ``<key>`` is a hash of the spool's path, so the next writer on the
same spool finds exactly its own files and moves them into the spool at
start (``adopt``), from where they replay like any spooled call. The lines
are spool lines; files are created exclusively (no following a planted
link) and readable by their owner only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from llmtally.ledger.spool import Pair, Spool, encode_lines, fsync_dir

__all__ = ["Fallback", "default_fallback_dirs"]

_log = logging.getLogger(__name__)
_ADOPT_CHUNK = 500


def default_fallback_dirs(configured: Path | None = None) -> list[Path]:
    """Where fallback files go, first choice first."""
    dirs = [configured] if configured is not None else []
    dirs += [Path(tempfile.gettempdir()), Path("/dev/shm")]
    return list(dict.fromkeys(dirs))


class Fallback:
    """The fallback files of one spool."""

    def __init__(self, spool_path: Path, dirs: Sequence[Path]) -> None:
        key = hashlib.sha256(str(spool_path.absolute()).encode()).hexdigest()[:12]
        self.prefix = f"llmtally-spool-{key}-"
        self.dirs = list(dirs)

    def write(self, pairs: Sequence[Pair]) -> Path:
        """Write ``pairs`` durably to a new file in the first folder that takes
        it; OSError (the last folder's) when none does."""
        data = encode_lines(pairs)
        error: OSError = OSError("no fallback folder is configured")
        for folder in self.dirs:
            path = folder / f"{self.prefix}{os.getpid()}-{time.time_ns()}.jsonl"
            try:
                _write_new(path, data)
            except OSError as exc:
                _log.error("cannot write the ledger fallback file %s: %s", path, exc)
                error = exc
                continue
            return path
        raise error

    def found(self) -> list[Path]:
        """This spool's fallback files, oldest first."""
        paths: list[Path] = []
        for folder in self.dirs:
            try:
                paths += folder.glob(f"{self.prefix}*.jsonl")
            except OSError:
                continue
        return sorted(paths, key=lambda p: p.name)

    def adopt(self, spool: Spool) -> int:
        """Move every fallback file's calls into ``spool``; the number moved. A
        file is deleted only once all its lines are in the spool (a crash in
        between moves them twice, which stores nothing twice: inserts are
        idempotent by id). OSError when the spool cannot take them."""
        moved = 0
        for path in self.found():
            chunk: list[Pair] = []
            for _, pair in spool.read(path):
                chunk.append(pair)
                if len(chunk) >= _ADOPT_CHUNK:
                    spool.append(chunk)
                    moved, chunk = moved + len(chunk), []
            if chunk:
                spool.append(chunk)
                moved += len(chunk)
            path.unlink()
            _log.warning("moved the calls of ledger fallback file %s into the spool", path)
        return moved


def _write_new(path: Path, data: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError:
        path.unlink(missing_ok=True)  # half a file would only be replayed twice
        raise
    finally:
        os.close(fd)
    fsync_dir(path.parent)
