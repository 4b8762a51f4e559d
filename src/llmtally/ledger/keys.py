"""Gateway keys in the ledger: create, list, look up by hash, revoke, and spend.

A key is ``llt-`` + 32 url-safe random characters (192 random bits); it is
shown once when created and only its SHA-256 is stored (see
docs/decisions.md). ``spent(key_id, since)`` sums ``cost_total`` of the key's
calls in SQL, exactly on both databases (``Fixed`` money).
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, get_args

from sqlalchemy import Connection, RowMapping, func, or_, select
from sqlalchemy.exc import IntegrityError

from llmtally.ledger.schema import calls, check_fixed, gateway_keys
from llmtally.ledger.store import Store
from llmtally.usage import new_ulid

__all__ = [
    "KEY_PREFIX",
    "PERIODS",
    "GatewayKey",
    "KeyStoreError",
    "KeyStore",
    "NewKey",
    "Period",
    "hash_key",
    "is_gateway_key",
    "new_secret",
    "period_bounds",
]

KEY_PREFIX = "llt-"
Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = get_args(Period)
_RANDOM_BYTES = 24  # 192 bits -> 32 url-safe characters
_CHUNK = 500  # ids per IN (...) query


class KeyStoreError(ValueError):
    """A key cannot be created or found (duplicate name, unknown id or name)."""


@dataclass(frozen=True, slots=True)
class GatewayKey:
    id: str
    name: str
    prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    budget_usd: Decimal | None
    period: Period
    team: str | None = None  # the team (group of keys) it belongs to

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just created, with its secret: the only time the secret exists."""

    key: GatewayKey
    secret: str


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_gateway_key(value: str) -> bool:
    return value.startswith(KEY_PREFIX)


def period_bounds(period: Period, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The UTC calendar day, ISO week (from Monday) or month that holds ``now``."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    day = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day, day + dt.timedelta(days=1)
    if period == "week":
        start = day - dt.timedelta(days=day.weekday())
        return start, start + dt.timedelta(weeks=1)
    if period == "month":
        start = day.replace(day=1)
        later = start.replace(year=start.year + 1, month=1) if start.month == 12 else None
        return start, later or start.replace(month=start.month + 1)
    raise ValueError(f"unknown budget period {period!r}: use one of {', '.join(PERIODS)}")


def _team(team: str | None) -> str | None:
    if team is None:
        return None
    if not team.strip() or len(team) > 200:
        raise KeyStoreError("a team name has 1 to 200 characters")
    return team


def _utc(moment: dt.datetime) -> dt.datetime:
    # SQLite returns naive datetimes; the ledger writes UTC only.
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _row_to_key(row: RowMapping) -> GatewayKey:
    revoked = row["revoked_at"]
    return GatewayKey(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        created_at=_utc(row["created_at"]),
        revoked_at=None if revoked is None else _utc(revoked),
        budget_usd=row["budget_usd"],
        period=row["period"],
        team=row["team"],
    )


_PUBLIC = [c for c in gateway_keys.c if c.name != "key_hash"]


class KeyStore:
    """The ``gateway_keys`` table of one ledger ``Store``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    def _write(self) -> Connection:
        return self.engine.connect().execution_options(llmtally_write=True)

    def create(
        self,
        name: str,
        budget_usd: Decimal | None = None,
        period: Period = "month",
        now: dt.datetime | None = None,
        team: str | None = None,
    ) -> NewKey:
        if not name.strip():
            raise KeyStoreError("a key needs a name")
        if period not in PERIODS:
            raise KeyStoreError(f"unknown period {period!r}: use one of {', '.join(PERIODS)}")
        if budget_usd is not None and (budget_usd < 0 or not budget_usd.is_finite()):
            raise KeyStoreError(f"a budget must be a positive amount, not {budget_usd}")
        secret = new_secret()
        key = GatewayKey(
            id=new_ulid(),
            name=name,
            prefix=secret[:8],
            created_at=(now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC),
            revoked_at=None,
            budget_usd=None if budget_usd is None else check_fixed(budget_usd),
            period=period,
            team=_team(team),
        )
        row = dataclasses.asdict(key) | {"key_hash": hash_key(secret)}
        try:
            with self._write() as conn, conn.begin():
                conn.execute(gateway_keys.insert().values(**row))
        except IntegrityError:
            raise KeyStoreError(f"a key named {name!r} exists already") from None
        return NewKey(key, secret)

    def list(self, include_revoked: bool = True) -> builtins.list[GatewayKey]:
        """Keys, oldest first."""
        query = select(*_PUBLIC).order_by(gateway_keys.c.created_at, gateway_keys.c.id)
        if not include_revoked:
            query = query.where(gateway_keys.c.revoked_at.is_(None))
        with self.engine.connect() as conn:
            return [_row_to_key(row) for row in conn.execute(query).mappings()]

    def get(self, id_or_name: str) -> GatewayKey | None:
        query = select(*_PUBLIC).where(
            or_(gateway_keys.c.id == id_or_name, gateway_keys.c.name == id_or_name)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _row_to_key(row)

    def get_by_hash(self, key_hash: str) -> GatewayKey | None:
        query = select(*_PUBLIC).where(gateway_keys.c.key_hash == key_hash)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _row_to_key(row)

    def hashes(self) -> dict[str, GatewayKey]:
        """Every key (revoked ones too) by its hash: what the gateway caches."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(gateway_keys)).mappings().all()
        return {row["key_hash"]: _row_to_key(row) for row in rows}

    def any_active(self) -> bool:
        query = select(gateway_keys.c.id).where(gateway_keys.c.revoked_at.is_(None)).limit(1)
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def set_team(self, id_or_name: str, team: str | None) -> GatewayKey:
        """Put a key in a team (None: out of any team)."""
        key = self.get(id_or_name)
        if key is None:
            raise KeyStoreError(f"no gateway key with id or name {id_or_name!r}")
        with self._write() as conn, conn.begin():
            conn.execute(
                gateway_keys.update().where(gateway_keys.c.id == key.id).values(team=_team(team))
            )
        found = self.get(key.id)
        assert found is not None
        return found

    def revoke(self, id_or_name: str, now: dt.datetime | None = None) -> GatewayKey:
        """Revoke a key by id or name (a revoked key stays revoked, at its first time)."""
        key = self.get(id_or_name)
        if key is None:
            raise KeyStoreError(f"no gateway key with id or name {id_or_name!r}")
        if key.revoked_at is None:
            moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
            with self._write() as conn, conn.begin():
                conn.execute(
                    gateway_keys.update()
                    .where(gateway_keys.c.id == key.id, gateway_keys.c.revoked_at.is_(None))
                    .values(revoked_at=moment)
                )
        found = self.get(key.id)
        assert found is not None
        return found

    def spent(self, key_id: str, since: dt.datetime) -> Decimal:
        """The exact total ``cost_total`` of the key's calls started at or after ``since``."""
        with self.engine.connect() as conn:
            return _spent(conn, [key_id], since).get(key_id, Decimal(0))


def _spent(conn: Connection, key_ids: builtins.list[str], since: dt.datetime) -> dict[str, Decimal]:
    if since.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    found: dict[str, Decimal] = {}
    for i in range(0, len(key_ids), _CHUNK):
        query = (
            select(calls.c.key_id, func.sum(calls.c.cost_total))
            .where(calls.c.key_id.in_(key_ids[i : i + _CHUNK]))
            .where(calls.c.started_at >= since.astimezone(dt.UTC))
            .group_by(calls.c.key_id)
        )
        for key_id, total in conn.execute(query):
            found[key_id] = Decimal(0) if total is None else total
    return found
