"""Gateway keys on the request path, without waiting on the database.

A client sends its gateway key (``llt-...``) as ``Authorization: Bearer`` or
``x-api-key`` (also ``x-goog-api-key`` / ``api-key``); it is removed before the
request goes upstream, whose own key comes from the config. ``KeyGate.admit``
answers from memory: the keys (by SHA-256) are reloaded from the ledger every
``refresh_s`` seconds on a background thread. Budgets, a key's own included,
are reserved after admission (``llmtally.gateway.budget_gate``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from llmtally.ledger.keys import GatewayKey, hash_key, is_gateway_key
from llmtally.providers.errors import Family, error_body

if TYPE_CHECKING:
    from llmtally.ledger.keys import KeyStore

__all__ = ["KEY_HEADERS", "REFRESH_S", "Admitted", "Denied", "KeyGate", "split_key"]

KEY_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key")
REFRESH_S = 1.0
_HASHES_MAX = 1024  # secrets whose hash is kept (the verdict never is: see KeyGate.admit)
_logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Admitted:
    """Go ahead: the key's id (None without a key) and the headers without it."""

    key_id: str | None
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Denied:
    """Refused: the HTTP status and the message, sent in the client's wire shape."""

    status: int
    message: str
    code: str | None = None  # OpenAI's error code
    retry_after: int | None = None  # seconds until asking again can succeed

    def body(self, wire: Family) -> bytes:
        return error_body(wire, self.status, self.message, self.code)

    def headers(self) -> list[tuple[bytes, bytes]]:
        """``Retry-After`` (RFC 9110 section 10.2.3) when waiting helps."""
        return [] if self.retry_after is None else [(b"retry-after", b"%d" % self.retry_after)]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    keys: dict[str, GatewayKey]  # by hash, revoked ones too
    active: bool  # some key is not revoked


def _key_in(name: str, value: str) -> str | None:
    if name == "authorization":
        scheme, _, value = value.partition(" ")
        if scheme.lower() != "bearer":
            return None
    value = value.strip()
    return value if is_gateway_key(value) else None


def split_key(headers: Mapping[str, str]) -> tuple[str | None, dict[str, str]]:
    """The gateway key in ``headers`` (if any), and the headers without it."""
    found, rest = None, dict(headers)
    for name in KEY_HEADERS:
        key = _key_in(name, headers[name]) if name in headers else None
        if key is not None:
            found = found or key
            del rest[name]
    return found, rest


class KeyGate:
    """Who may call, answered from memory.

    ``require_key`` makes a key necessary even while no active key exists (a
    gateway started on a public address stays closed when its keys are revoked).
    """

    def __init__(
        self,
        keys: KeyStore,
        *,
        refresh_s: float = REFRESH_S,
        require_key: bool = False,
    ) -> None:
        self.keys, self.refresh_s, self.require_key = keys, refresh_s, require_key
        self._snapshot = _Snapshot({}, False)
        self._hashes: dict[str, str] = {}  # secret -> SHA-256: the same every call
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the request path -------------------------------------------------
    def admit(self, headers: Mapping[str, str]) -> Admitted | Denied:
        secret, rest = split_key(headers)
        snap = self._snapshot
        if secret is None:
            if snap.active or self.require_key:
                return Denied(
                    401,
                    "this gateway needs a gateway key (llt-...): send it as "
                    "'Authorization: Bearer llt-...' or 'x-api-key: llt-...'",
                )
            return Admitted(None, rest)
        key = snap.keys.get(self._hash(secret))
        if key is None:
            return Denied(401, f"unknown gateway key {secret[:8]}...")
        if not key.active:
            return Denied(401, f"gateway key {key.name!r} ({key.prefix}...) has been revoked")
        return Admitted(key.id, rest)

    def _hash(self, secret: str) -> str:
        """``hash_key(secret)``, remembered for up to ``_HASHES_MAX`` secrets (then
        forgotten all at once). Only the hash is kept, never a verdict: each call is
        judged on the current snapshot, so a revoked or new key counts as before."""
        found = self._hashes.get(secret)
        if found is None:
            if len(self._hashes) >= _HASHES_MAX:
                self._hashes = {}
            found = self._hashes[secret] = hash_key(secret)
        return found

    # -- the refresh, off the event loop ----------------------------------
    def refresh(self) -> None:
        """Reload the keys from the ledger."""
        keys = self.keys.hashes()
        self._snapshot = _Snapshot(keys=keys, active=any(k.active for k in keys.values()))

    def start(self) -> KeyGate:
        """Load once now, then refresh every ``refresh_s`` seconds on a thread."""
        self.refresh()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="llmtally-keys", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                self.refresh()
            except (SQLAlchemyError, OSError) as exc:
                _logger.warning("gateway keys: refresh failed, keeping the last state: %s", exc)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> KeyGate:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
