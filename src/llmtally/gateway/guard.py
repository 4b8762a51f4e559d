"""What keeps web pages from using the gateway: a ``Host`` allow-list and an
``Origin`` check.

A page on another site can send a request to a loopback gateway (a ``fetch``
with ``mode: "no-cors"`` needs no preflight), and one reached through DNS
rebinding (``evil.example`` resolving to 127.0.0.1) can also read the answers.
So every request must name an allowed ``Host`` (by default the loopback names,
for a gateway that listens on loopback), and a request that carries an
``Origin`` (browsers send it on every cross-origin request and on same-origin
POSTs) must come from the gateway's own origin or one on the allow-list (empty
by default). Clients that are not browsers send no ``Origin`` and are not
affected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["LOOPBACK_NAMES", "BrowserGuard", "Refusal"]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_HOSTS_MAX = 256  # Host values whose verdict is kept (the allow-list never changes)


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    message: str


def _host_name(host: str) -> str:
    """``Host`` without its port (``[::1]:4000`` -> ``::1``), lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class BrowserGuard:
    """``hosts``: the names the gateway answers to (None: any); ``origins``: the
    browser origins allowed besides the gateway's own (``https://app.example``)."""

    def __init__(self, hosts: Iterable[str] | None, origins: Iterable[str] = ()) -> None:
        self.hosts = None if hosts is None else frozenset(h.lower() for h in hosts)
        self.origins = frozenset(o.rstrip("/").lower() for o in origins)
        self._hosts_seen: dict[str, bool] = {}  # Host value -> allowed: one per client, mostly

    @classmethod
    def for_listener(
        cls, listen_host: str, hosts: Iterable[str] | None, origins: Iterable[str]
    ) -> BrowserGuard:
        """The configured hosts, else the loopback names for a loopback listener
        (any name off loopback, where gateway keys and the admin token guard it)."""
        if hosts is None and _host_name(listen_host) in LOOPBACK_NAMES:
            hosts = LOOPBACK_NAMES
        return cls(hosts, origins)

    def _allowed(self, host: str) -> bool:
        """Whether ``host`` names an allowed host; remembered for ``_HOSTS_MAX`` values."""
        allowed = self._hosts_seen.get(host)
        if allowed is None:
            assert self.hosts is not None
            allowed = _host_name(host) in self.hosts
            if len(self._hosts_seen) < _HOSTS_MAX:
                self._hosts_seen[host] = allowed
        return allowed

    def refuse(self, headers: Mapping[str, str]) -> Refusal | None:
        host = headers.get("host", "")
        if self.hosts is not None and not self._allowed(host):
            return Refusal(421, f"this gateway does not answer to the host {host[:100]!r}")
        origin = headers.get("origin")
        if origin is None or origin.rstrip("/").lower() in self.origins:
            return None
        parts = urlsplit(origin)
        if origin != "null" and parts.netloc.lower() == host.lower():
            return None  # the gateway's own pages (the dashboard's login form)
        return Refusal(
            403,
            f"requests from web pages at {origin[:100]!r} are refused; allow the origin in "
            "the config's allowed_origins",
        )
