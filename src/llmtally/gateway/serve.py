"""``llmtally serve``: the gateway on uvicorn, writing to the ledger.

The config is ``--config``, else ``$LLMTALLY_CONFIG``, else ``./llmtally.yaml``
when it exists, else :func:`default_config` (OpenAI, Anthropic and Gemini with
keys from the usual environment variables). On SIGTERM or Ctrl-C uvicorn
finishes the requests in flight, then the ledger writer drains every recorded
call into the database (or its spool; with both down, after ``ledger.exit_retry_s``
of retries, a fallback file) before the process exits. With ``--workers N``,
N such processes serve the one port (``llmtally.gateway.workers``).

``ledger: {writer: process}``: the serving processes hand calls over on disk
(``llmtally.ledger.handover``) to one writer process that the supervisor
starts, with ``--workers 1`` too (``llmtally.ledger.writer_process``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from llmtally.gateway.config import GatewayConfig, HttpLimits, load_config

if TYPE_CHECKING:
    import socket

    from llmtally.catalog import Catalog
    from llmtally.gateway.app import Gateway
    from llmtally.gateway.budget_gate import BudgetGate
    from llmtally.gateway.keys import KeyGate
    from llmtally.gateway.local import LocalServer
    from llmtally.gateway.workers import Leftovers
    from llmtally.ledger import LedgerWriter, Store
    from llmtally.ledger.handover import Handover
    from llmtally.web import Dashboard

SWITCH_INTERVAL_S = 0.001
BACKLOG = 2048  # uvicorn's

__all__ = [
    "ServeOptions",
    "check_admin_token",
    "check_host",
    "default_config",
    "is_loopback",
    "resolve_config",
    "run",
    "unset_keys",
]


def default_config() -> GatewayConfig:
    """OpenAI, Anthropic and Gemini with keys from the environment, and the
    embedded local model as ``local/smollm2`` when it is installed."""
    from llmtally.gateway.local import local_available, local_upstream

    data = _default_data()
    if local_available():
        data["upstreams"]["local"] = local_upstream()
        data["routes"].insert(0, {"match": "local/*", "upstream": "local", "strip_prefix": True})
    return GatewayConfig.model_validate(data)


def _default_data() -> dict[str, Any]:
    return {
        "upstreams": {
            "openai": {
                "kind": "openai",
                "base_url": "https://api.openai.com",
                "api_key_env": "OPENAI_API_KEY",
            },
            "anthropic": {
                "kind": "anthropic",
                "base_url": "https://api.anthropic.com",
                "api_key_env": "ANTHROPIC_API_KEY",
            },
            "google": {
                "kind": "gemini",
                "base_url": "https://generativelanguage.googleapis.com",
                "api_key_env": "GEMINI_API_KEY",
            },
        },
        "routes": [
            {"match": "claude-*", "upstream": "anthropic"},
            {"match": "gemini-*", "upstream": "google"},
            {"match": "*", "upstream": "openai"},
        ],
    }


def resolve_config(path: Path | None) -> tuple[GatewayConfig, str]:
    """The config to serve, and where it came from."""
    chosen = path or (
        Path(os.environ["LLMTALLY_CONFIG"]) if os.environ.get("LLMTALLY_CONFIG") else None
    )
    if chosen is None and Path("llmtally.yaml").is_file():
        chosen = Path("llmtally.yaml")
    if chosen is None:
        return default_config(), "built-in defaults"
    return load_config(chosen), str(chosen)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _no_key_message(host: str) -> str:
    return (
        f"--host {host}: no active gateway key, so the gateway listens on loopback only "
        "(127.0.0.1, ::1, localhost); create one first: llmtally keys create --name NAME"
    )


def check_host(host: str, database_url: str | None) -> None:
    """ValueError unless ``host`` is loopback or the ledger holds an active gateway key."""
    if is_loopback(host):
        return
    from llmtally.ledger import open_store
    from llmtally.ledger.keys import KeyStore

    with open_store(database_url) as store:
        if not KeyStore(store).any_active():
            raise ValueError(_no_key_message(host))


def check_admin_token(host: str, token: str | None) -> None:
    """ValueError when the dashboard would be open beyond loopback without an admin token."""
    if token is None and not is_loopback(host):
        raise ValueError(
            f"--host {host}: the dashboard needs an admin token on a non-loopback address; "
            "set LLMTALLY_ADMIN_TOKEN or pass --admin-token (16+ characters, e.g. from "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 4000
    config: Path | None = None
    database_url: str | None = None
    admin_token: str | None = None  # required for the dashboard unless on loopback
    listener: socket.socket | None = None  # bound already (llmtally.gateway.listen)
    workers: int = 1  # processes serving the port; 1: this one, no fork


def run(options: ServeOptions) -> None:
    """Serve until stopped; the ledger is drained before this returns. With
    ``workers`` above 1, that many processes serve the port (``llmtally.gateway.workers``)."""
    from llmtally.gateway.workers import check_workers

    check_admin_token(options.host, options.admin_token)
    check_workers(options.workers)
    config, _ = resolve_config(options.config)
    for warning in unset_keys(config, os.environ):  # one line each, before the first call
        print(warning, file=sys.stderr, flush=True)
    catalog = _open_catalog()
    if options.workers == 1 and config.ledger.writer == "thread":
        _serve(options, config, catalog, None)
    else:
        _supervise(options, config, catalog)


def _supervise(options: ServeOptions, config: GatewayConfig, catalog: Catalog) -> None:
    """The parent of ``--workers N``: migrates the ledger and starts the local
    model servers once, then forks the workers (before starting any thread)."""
    from llmtally.alerts import AlertService
    from llmtally.gateway.listen import listen
    from llmtally.gateway.workers import Supervisor

    with _open_ledger(options) as store:  # migrated once; a refusal said once
        AlertService(store, config.alerts)  # its checks of the config too
    listener = options.listener or listen(options.host, options.port)
    listener.listen(BACKLOG)  # connections wait here while a worker (re)starts
    shared = replace(options, listener=listener)
    spawned = _spawn_local(config)
    writer = None
    if config.ledger.writer == "process":
        writer = lambda: _write_ledger(options, config)  # noqa: E731
    try:
        code = Supervisor(
            options.workers, lambda index: _serve(shared, config, catalog, index), listener, writer
        ).run()
    finally:
        listener.close()
        for server in spawned:
            server.stop()
    if code:
        raise SystemExit(code)


def _open_ledger(options: ServeOptions) -> Store:
    """The ledger (migrated); ValueError on a public address without an active key."""
    from llmtally.ledger import open_store
    from llmtally.ledger.keys import KeyStore

    store = open_store(options.database_url)
    if not is_loopback(options.host) and not KeyStore(store).any_active():
        store.close()
        raise ValueError(_no_key_message(options.host))
    return store


def _serve(
    options: ServeOptions, config: GatewayConfig, catalog: Catalog, worker: int | None
) -> None:
    """One gateway process: the only one (``worker`` None), or worker ``worker``
    of ``options.workers``, which starts no local model server."""
    from llmtally.alerts import AlertService
    from llmtally.gateway.budget_gate import BudgetGate
    from llmtally.gateway.keys import KeyGate
    from llmtally.ledger.keys import KeyStore

    # The ledger writer and the pricing worker are Python threads: hand the GIL
    # back to the event loop every 1 ms (default 5 ms), so their batches do not
    # add milliseconds to requests in flight.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    store = _open_ledger(options)
    # on a public address a key stays required even if every key is revoked later
    gate = KeyGate(KeyStore(store), require_key=not is_loopback(options.host))
    budgets = BudgetGate(
        store,
        catalog,
        lease_s=config.budgets.lease_s,
        on_store_down=config.budgets.on_store_down,
    )
    writer = _writer(config, store, worker)
    leftovers = _leftovers(config, store, worker, options.workers)
    spawned = _spawn_local(config) if worker is None else []
    # uvicorn finishes the requests in flight, then re-raises the signal it caught
    # under the handler found before it started: make that an orderly exit, so the
    # writer below drains into the ledger before the process ends.
    previous = signal.signal(signal.SIGTERM, _exit_quietly)
    dashboard = None
    alerts = None
    if worker in (None, 0):  # in one process of the port, every interval_s
        alerts = AlertService(store, config.alerts).start()
    try:
        dashboard = _dashboard(options, config, catalog, store)
        app = _app(options, config, catalog, writer, gate.start(), budgets.start(), dashboard)
        _serve_on(app, options, config.http)
    finally:
        for server in spawned:
            server.stop()
        leftovers.close()
        budgets.close()  # after the calls in flight were recorded and settled
        writer.close(timeout=config.ledger.exit_retry_s)  # then the fallback file
        if dashboard is not None:
            dashboard.close()
        if alerts is not None:
            alerts.close()
        gate.close()
        store.close()
        signal.signal(signal.SIGTERM, previous)


def _dashboard(
    options: ServeOptions, config: GatewayConfig, catalog: Catalog, store: Store
) -> Dashboard:
    from llmtally.web import Dashboard

    return Dashboard(store, catalog, options.admin_token, alerts=config.alerts)


def _app(
    options: ServeOptions,
    config: GatewayConfig,
    catalog: Catalog,
    writer: LedgerWriter | Handover,
    gate: KeyGate,
    budgets: BudgetGate,
    dashboard: Dashboard,
) -> Gateway:
    from llmtally.gateway.app import Gateway
    from llmtally.gateway.guard import BrowserGuard

    guard = BrowserGuard.for_listener(options.host, config.allowed_hosts, config.allowed_origins)
    return Gateway(
        config,
        writer,
        catalog,
        gate,
        web=dashboard,
        metrics_token=options.admin_token,
        guard=guard,
        budgets=budgets,
    )


def _writer(config: GatewayConfig, store: Store, worker: int | None) -> LedgerWriter | Handover:
    """The ledger writer, on a spool of its own (``<spool>.w<i>`` for worker i);
    with ``writer: process``, the hand-over to the writer process."""
    from llmtally.config import spool_file
    from llmtally.gateway.workers import worker_spool
    from llmtally.ledger import LedgerWriter
    from llmtally.ledger.fallback import default_fallback_dirs
    from llmtally.ledger.handover import Handover

    settings = config.ledger
    if settings.writer == "process":
        return Handover(spool_file(), durable=settings.durable, max_held=settings.max_held_calls)
    return LedgerWriter(
        store,
        worker_spool(spool_file(), worker),
        durable=settings.durable,
        max_held=settings.max_held_calls,
        fallback_dirs=default_fallback_dirs(settings.fallback_dir),
    )


def _leftovers(config: GatewayConfig, store: Store, worker: int | None, workers: int) -> Leftovers:
    """Replay (the only process, or worker 0) the spools that earlier runs left
    under names this run does not use: with another number of workers, or none."""
    from llmtally.config import spool_file
    from llmtally.gateway.workers import Leftovers, leftover_spools, worker_spool
    from llmtally.ledger.fallback import default_fallback_dirs
    from llmtally.ledger.handover import handover_dir

    dirs = default_fallback_dirs(config.ledger.fallback_dir)
    if worker not in (None, 0) or config.ledger.writer == "process":  # the writer's job then
        return Leftovers(store, [], dirs)
    spool = spool_file()
    own = [spool] if worker is None else [worker_spool(spool, i) for i in range(workers)]
    # calls a ``writer: process`` run handed over and no writer process took yet
    handover = spool if handover_dir(spool).is_dir() else None
    return Leftovers(store, leftover_spools(spool, own, dirs), dirs, handover).start()


def _write_ledger(options: ServeOptions, config: GatewayConfig) -> None:
    """The writer process (``writer: process``): inserts what the workers hand
    over, and replays the spools earlier runs left under other names, until SIGTERM."""
    import threading

    from llmtally.config import spool_file
    from llmtally.gateway.workers import Leftovers, leftover_spools
    from llmtally.ledger import open_store
    from llmtally.ledger.fallback import default_fallback_dirs
    from llmtally.ledger.writer_process import run_writer_process

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which says when
    spool = spool_file()
    dirs = default_fallback_dirs(config.ledger.fallback_dir)
    with open_store(options.database_url) as store:
        leftovers = Leftovers(store, leftover_spools(spool, [spool], dirs), dirs).start()
        try:
            run_writer_process(
                store, spool, stop, fallback_dirs=dirs, exit_retry_s=config.ledger.exit_retry_s
            )
        finally:
            leftovers.close()


def unset_keys(config: GatewayConfig, environ: Mapping[str, str]) -> list[str]:
    """One warning per upstream whose ``api_key_env`` names an unset variable."""
    return [
        f"warning: upstream {name!r}: api_key_env {up.api_key_env} is not set; its calls "
        "carry the client's own key, if any"
        for name, up in config.upstreams.items()
        if up.api_key_env and not environ.get(up.api_key_env)
    ]


def _open_catalog() -> Catalog:
    """The catalog as the settings say (override file and imports included); a
    bad price file ends the process with its message, not a traceback."""
    from llmtally.catalog import CatalogFileError
    from llmtally.config import open_catalog

    try:
        return open_catalog()
    except CatalogFileError as exc:
        raise SystemExit(f"error: {exc}") from None


def _serve_on(app: Any, options: ServeOptions, limits: HttpLimits) -> None:
    """The HTTP server (``http.server``) on the socket the caller bound before
    anything started (``llmtally serve`` does, before its banner), else on one bound here."""
    import uvicorn

    from llmtally.gateway.http_limits import server_config
    from llmtally.gateway.listen import listen

    listener = options.listener or listen(options.host, options.port)
    if limits.server == "raw":
        with listener:
            _serve_raw_on(app, listener, limits)
        return
    server = uvicorn.Server(server_config(app, options.host, options.port, limits))
    with listener, contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[listener])
    if not server.started:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE: its log said why


def _serve_raw_on(app: Any, listener: socket.socket, limits: HttpLimits) -> None:
    """``http: {server: raw}``: until SIGTERM or SIGINT, then as uvicorn does: stop
    accepting, finish the requests in flight (up to 30 s), run the lifespan shutdown."""
    import asyncio

    from llmtally.gateway.server_raw import serve_raw

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve_raw(app, listener, limits, stop=stop)

    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # Windows: the standard loop
        loop_factory = None
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(main())
    except RuntimeError as exc:  # the app's lifespan startup failed (server_raw says so)
        print(f"llmtally gateway: the server could not start: {exc}", file=sys.stderr)
        raise SystemExit(3) from None  # as uvicorn's STARTUP_FAILURE


def _spawn_local(config: GatewayConfig) -> list[LocalServer]:
    """Start the model servers the config asks ``llmtally serve`` to run."""
    from llmtally.config import data_home
    from llmtally.gateway.local import LocalModelError, LocalServer

    started: list[LocalServer] = []
    for name, upstream in config.upstreams.items():
        if upstream.spawn == "llama-cpp":
            server = LocalServer(upstream.base_url)
            home = data_home()
            home.mkdir(parents=True, exist_ok=True)
            try:
                server.start(log=home / f"{name}-model.log")
            except LocalModelError:
                for running in started:
                    running.stop()
                raise
            started.append(server)
    return started


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
