"""Gateway keys and budgets on the request path, without waiting on the database.

A client sends its gateway key (``llt-...``) as ``Authorization: Bearer`` or
``x-api-key`` (also ``x-goog-api-key`` / ``api-key``); it is removed before the
request goes upstream, whose own key comes from the config. ``KeyGate.admit``
answers from memory: the keys (by SHA-256) and each budgeted key's spend in
its period are reloaded from the ledger every ``refresh_s`` seconds on a
background thread, and the cost of every call this process records is added
at once, until the ledger holds that call. With several gateway replicas a
budget can overshoot by what the other replicas spend within one refresh
interval (docs/decisions.md).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from llmtally.ledger.keys import GatewayKey, hash_key, is_gateway_key, period_bounds
from llmtally.ledger.rows import CallBodies
from llmtally.meter import decimal_text
from llmtally.providers.errors import Family, error_body
from llmtally.usage import Call

if TYPE_CHECKING:
    from llmtally.gateway.app import Recorder
    from llmtally.ledger.keys import KeyStore

__all__ = ["KEY_HEADERS", "REFRESH_S", "Admitted", "Denied", "KeyGate", "split_key"]

KEY_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key")
REFRESH_S = 1.0
_ADJECTIVE = {"day": "daily", "week": "weekly", "month": "monthly"}
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
    starts: dict[str, dt.datetime]  # budgeted key id -> start of its period at the refresh
    spent: dict[str, Decimal]  # budgeted key id -> ledger spend since that start
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
    """Who may call, and whose budget is spent, answered from memory.

    ``require_key`` makes a key necessary even while no active key exists (a
    gateway started on a public address stays closed when its keys are revoked).
    """

    def __init__(
        self,
        keys: KeyStore,
        *,
        refresh_s: float = REFRESH_S,
        clock: Callable[[], dt.datetime] | None = None,
        require_key: bool = False,
    ) -> None:
        self.keys, self.refresh_s, self.require_key = keys, refresh_s, require_key
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._snapshot = _Snapshot({}, {}, {}, False)
        self._lock = threading.Lock()
        # key id -> call id -> (cost, started_at): recorded here, not yet in the ledger
        self._pending: dict[str, dict[str, tuple[Decimal, dt.datetime]]] = {}
        self._totals: dict[str, Decimal] = {}
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
        key = snap.keys.get(hash_key(secret))
        if key is None:
            return Denied(401, f"unknown gateway key {secret[:8]}...")
        if not key.active:
            return Denied(401, f"gateway key {key.name!r} ({key.prefix}...) has been revoked")
        if key.budget_usd is not None:
            denied = self._over_budget(key, key.budget_usd)
            if denied is not None:
                return denied
        return Admitted(key.id, rest)

    def _over_budget(self, key: GatewayKey, budget: Decimal) -> Denied | None:
        start, end = period_bounds(key.period, self.clock())
        spent = self.spent(key.id, start)
        if spent < budget:
            return None
        message = (
            f"gateway key {key.name!r} ({key.prefix}...) has spent ${decimal_text(spent)} of "
            f"its {_ADJECTIVE[key.period]} budget of ${decimal_text(budget)}; the budget "
            f"renews at {end:%Y-%m-%d %H:%M} UTC"
        )
        wait = math.ceil((end - self.clock()).total_seconds())
        return Denied(429, message, code="insufficient_quota", retry_after=max(wait, 1))

    def spent(self, key_id: str, start: dt.datetime) -> Decimal:
        """What the key has spent since ``start`` (its period's start), as known here."""
        snap = self._snapshot
        with self._lock:
            if snap.starts.get(key_id) == start:
                return snap.spent[key_id] + self._totals.get(key_id, Decimal(0))
            # the period turned since the last refresh: only calls after its start
            pending = self._pending.get(key_id, {}).values()
            return sum((cost for cost, at in pending if at >= start), Decimal(0))

    def charge(self, call: Call) -> None:
        """Count a call this process recorded against its key's budget."""
        if call.key_id is None or call.cost is None:
            return
        with self._lock:
            start = self._snapshot.starts.get(call.key_id)
            if start is None or call.started_at < start:
                return
            self._pending.setdefault(call.key_id, {})[call.id] = (call.cost.total, call.started_at)
            self._totals[call.key_id] = self._totals.get(call.key_id, Decimal(0)) + call.cost.total

    def recorder(self, inner: Recorder) -> Recorder:
        """``inner`` that charges each call to its key before passing it on."""
        return _ChargingRecorder(self, inner)

    # -- the refresh, off the event loop ----------------------------------
    def refresh(self) -> None:
        """Reload keys and spend from the ledger; forget recorded calls it now holds."""
        now = self.clock()
        keys = self.keys.hashes()
        starts = {
            k.id: period_bounds(k.period, now)[0]
            for k in keys.values()
            if k.active and k.budget_usd is not None
        }
        with self._lock:
            pending_ids = [call_id for calls in self._pending.values() for call_id in calls]
        spent, stored = self.keys.budget_state(starts, pending_ids)
        with self._lock:
            pending: dict[str, dict[str, tuple[Decimal, dt.datetime]]] = {}
            for key_id, calls in self._pending.items():
                start = starts.get(key_id)
                left = {
                    call_id: (cost, at)
                    for call_id, (cost, at) in calls.items()
                    if start is not None and at >= start and call_id not in stored
                }
                if left:
                    pending[key_id] = left
            self._pending = pending
            self._totals = {
                k: sum((c for c, _ in v.values()), Decimal(0)) for k, v in pending.items()
            }
            self._snapshot = _Snapshot(
                keys=keys,
                starts=starts,
                spent={key_id: spent.get(key_id, Decimal(0)) for key_id in starts},
                active=any(k.active for k in keys.values()),
            )

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


class _ChargingRecorder:
    def __init__(self, gate: KeyGate, inner: Recorder) -> None:
        self.gate, self.inner = gate, inner

    def submit(self, call: Call, bodies: CallBodies | None = None) -> None:
        self.gate.charge(call)
        self.inner.submit(call, bodies)
