"""The gateway's listening socket, bound before ``llmtally serve`` prints its banner
or starts anything, so that a port in use is one clear line and a non-zero exit,
never a traceback after "llmtally gateway: ...". The socket is handed to uvicorn,
so the port stays held between the check and serving."""

from __future__ import annotations

import errno
import socket

__all__ = ["ListenError", "listen"]

_PICK = "pick another with --port N (or LLMTALLY_PORT=N, or make run PORT=N)"


class ListenError(Exception):
    """The gateway cannot listen on the address; the message says why, in one line."""


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not yet listening), as uvicorn binds one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ListenError(_why(host, port, exc)) from None
    return sock


def _why(host: str, port: int, exc: OSError) -> str:
    where = f"cannot listen on {host}:{port}"
    if isinstance(exc, socket.gaierror):
        return f"{where}: unknown host {host!r}"
    if exc.errno == errno.EADDRINUSE:
        return f"{where}: port {port} is already in use; {_PICK}"
    if exc.errno == errno.EACCES:
        return f"{where}: permission denied (ports below 1024 need root); {_PICK}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{where}: {host} is not an address of this machine"
    return f"{where}: {exc.strerror or exc}"
