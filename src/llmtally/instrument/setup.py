"""``llmtally.instrument()``: patch the installed SDKs once, record into the ledger.

Calls go to the ledger through a :class:`~llmtally.ledger.LedgerWriter` (write-behind,
spooled to disk while the database is down, replayed later), or to a running
gateway's ledger through a :class:`~llmtally.instrument.forward.Forwarder` (spooled
while the gateway is down), flushed at exit.
An SDK that is not installed is skipped; each SDK module's ``patch(sink)``
returns its undo (``openai_sdk``, ``anthropic_sdk``, ``google_sdk``).
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from llmtally.instrument.record import STATS, Sink, Writer
from llmtally.ledger.spool import pid_alive

if TYPE_CHECKING:
    from llmtally.catalog import Catalog
    from llmtally.instrument.forward import Forwarder
    from llmtally.ledger import LedgerWriter, Store
    from llmtally.otel.export import OtlpExport, OtlpExporter
    from llmtally.usage import Call

__all__ = ["flush", "instrument", "instrumented", "uninstrument"]


class _Running:
    """The one instrumentation of this process (None while there is none)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sink: Sink | None = None
        self.writer: LedgerWriter | Forwarder | None = None  # ours to close
        self.exporter: OtlpExporter | None = None  # ours to close
        self.undo: list[Callable[[], None]] = []


_RUNNING = _Running()
# instrument-spool-<pid>.jsonl, or one that <pid> adopted from <dead pid>
_SPOOL = re.compile(r"instrument-spool-(\d+)(?:\.adopted-(\d+))?\.jsonl")


def _default_spool() -> Path:
    from llmtally.config import data_home

    return data_home() / f"instrument-spool-{os.getpid()}.jsonl"


def _claim(path: Path) -> Path | None:
    """Take a dead instrumented process's spool (renamed to ours: one process wins)."""
    found = _SPOOL.fullmatch(path.name)
    if found is None or int(found[1]) == os.getpid() or pid_alive(int(found[1])):
        return None
    mine = path.with_name(f"instrument-spool-{os.getpid()}.adopted-{found[2] or found[1]}.jsonl")
    try:
        path.rename(mine)
    except OSError:  # another process took it first
        return None
    replaying = path.with_name(path.name + ".replaying")  # it died replaying this part
    if replaying.exists():
        replaying.rename(mine.with_name(mine.name + ".replaying"))
    return mine


def _adopt(store: Store, folder: Path) -> None:
    """Replay the spools that instrumented processes left when they died, into ``store``."""
    from llmtally.ledger import LedgerWriter

    for path in sorted(folder.glob("instrument-spool-*.jsonl")):
        try:
            claimed = _claim(path)
            if claimed is not None:
                LedgerWriter(store, claimed).close()  # replays it at start, then stops
        except Exception:
            STATS.error("adopt")


def _open_writer(database_url: str | None, spool_path: Path | None) -> LedgerWriter:
    """A writer on the ledger; a database that cannot be reached now is spooled for.
    Spools that dead instrumented processes left beside ours are replayed too."""
    from llmtally.ledger import LedgerWriter
    from llmtally.ledger.store import open_store

    try:
        store = open_store(database_url)
    except Exception:  # unreachable or unmigratable now: rows wait in the spool
        STATS.error("open_ledger")
        store = open_store(database_url, migrate_now=False)
    spool = spool_path or _default_spool()
    spool.parent.mkdir(parents=True, exist_ok=True)
    writer = LedgerWriter(store, spool)
    threading.Thread(
        target=_adopt, args=(store, spool.parent), name="llmtally-adopt", daemon=True
    ).start()
    return writer


class _Both:
    """The writer, then the OTLP exporter (which never raises)."""

    def __init__(self, writer: Writer, exporter: OtlpExporter) -> None:
        self.writer, self.exporter = writer, exporter

    def submit(self, call: Call) -> None:
        self.writer.submit(call)
        self.exporter.submit(call)


def _open_exporter(otlp: str | OtlpExport | None) -> OtlpExporter | None:
    """The OTLP exporter asked for (the argument, else ``LLMTALLY_OTLP_ENDPOINT``)."""
    from llmtally.otel.export import OtlpExport, OtlpExporter

    otlp = otlp or os.environ.get("LLMTALLY_OTLP_ENDPOINT") or None
    if otlp is None:
        return None
    settings = otlp if isinstance(otlp, OtlpExport) else OtlpExport(endpoint=otlp)
    if settings.service_name == "llmtally":  # the default: name the application instead
        service = os.environ.get("OTEL_SERVICE_NAME") or Path(sys.argv[0] or "python").name
        settings = settings.model_copy(update={"service_name": service})
    return OtlpExporter(settings)


def _open_own(
    database_url: str | None, spool_path: Path | None, url: str | None, key: str | None
) -> LedgerWriter | Forwarder:
    """A forwarder to the gateway at ``url`` (else ``LLMTALLY_GATEWAY_URL``) when
    one is named, with its key (else ``LLMTALLY_GATEWAY_KEY``); else a ledger writer."""
    url = url or os.environ.get("LLMTALLY_GATEWAY_URL") or None
    if url is None:
        return _open_writer(database_url, spool_path)
    from llmtally.instrument.forward import Forwarder

    return Forwarder(url, key or os.environ.get("LLMTALLY_GATEWAY_KEY") or None, spool_path)


def _patch_all(sink: Sink) -> list[Callable[[], None]]:
    from llmtally.instrument import anthropic_sdk, google_sdk, openai_sdk

    undo = []
    for patch in (openai_sdk.patch, anthropic_sdk.patch, google_sdk.patch):
        try:
            done = patch(sink)
        except Exception:
            STATS.error("patch")
            continue
        if done is not None:
            undo.append(done)
    return undo


def instrument(
    database_url: str | None = None,
    *,
    spool_path: Path | None = None,
    catalog: Catalog | None = None,
    writer: Writer | None = None,
    otlp_endpoint: str | OtlpExport | None = None,
    gateway_url: str | None = None,
    gateway_key: str | None = None,
) -> bool:
    """Record every call the installed LLM SDKs make (see the package docstring).

    ``database_url``: the ledger (default ``LLMTALLY_DATABASE_URL``, else the
    SQLite file the CLI uses); ``writer``: any object with ``submit(call)``
    instead of a ledger; ``otlp_endpoint`` (default ``LLMTALLY_OTLP_ENDPOINT``): also
    export each call as an OTLP span and metrics (:mod:`llmtally.otel.export`);
    ``gateway_url`` (default ``LLMTALLY_GATEWAY_URL``) and ``gateway_key`` (default
    ``LLMTALLY_GATEWAY_KEY``): send calls to that gateway's ledger instead of a
    database (:mod:`llmtally.instrument.forward`).
    Idempotent: a second call changes nothing. Returns whether the
    instrumentation is running; it never raises."""
    with _RUNNING.lock:
        if _RUNNING.sink is not None:
            return True
        try:
            own = (
                _open_own(database_url, spool_path, gateway_url, gateway_key)
                if writer is None
                else None
            )
            if catalog is None:
                from llmtally.config import open_catalog

                catalog = open_catalog()
            target: Writer = own or writer  # type: ignore[assignment]
            exporter = _open_exporter(otlp_endpoint)
            sink = Sink(_Both(target, exporter) if exporter else target, catalog)
        except Exception:
            STATS.error("instrument")
            return False
        _RUNNING.sink, _RUNNING.writer, _RUNNING.exporter = sink, own, exporter
        _RUNNING.undo = _patch_all(sink)
    atexit.register(_at_exit)
    return True


def instrumented() -> bool:
    return _RUNNING.sink is not None


def flush(timeout: float = 10.0) -> bool:
    """Wait until the calls made so far are priced and written (or spooled)."""
    sink, writer = _RUNNING.sink, _RUNNING.writer
    if sink is None:
        return True
    drained = sink.drain(timeout)
    exported = _RUNNING.exporter.flush(timeout) if _RUNNING.exporter is not None else True
    return (writer.flush(timeout) if writer is not None else True) and drained and exported


def uninstrument(timeout: float = 10.0) -> None:
    """Undo :func:`instrument`: restore the SDKs, record what is pending, close."""
    with _RUNNING.lock:
        sink, writer, undo = _RUNNING.sink, _RUNNING.writer, _RUNNING.undo
        exporter, _RUNNING.exporter = _RUNNING.exporter, None
        _RUNNING.sink, _RUNNING.writer, _RUNNING.undo = None, None, []
    for step in undo:
        step()
    if sink is not None:
        sink.close()
    if writer is not None:
        writer.close(timeout)
    if exporter is not None:
        exporter.close(timeout)
    atexit.unregister(_at_exit)


def _at_exit() -> None:
    try:
        uninstrument()
    except Exception:
        STATS.error("exit")
