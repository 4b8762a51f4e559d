"""Which calls: a ``CallFilter`` parsed from query parameters, applied in SQL.

Every filter is a plain equality on an indexed column of ``calls`` (or a range
on ``started_at``), so a filtered query stays an index scan at 10M calls:

- ``since`` / ``until``: ``30m``, ``6h``, ``7d``, ``2w`` ago, or an ISO date or
  date-time (UTC unless it says otherwise); the range is ``since <= started_at
  < until``.
- ``model``: the model that answered, or the one asked for when that is unknown
  (``Call.model``, the key ``llmtally report --by model`` groups by); also as
  the tools show it, ``provider/model`` or ``provider / model``
  (:func:`model_condition`).
- ``provider``, ``user``, ``feature``, ``key`` (gateway key id), ``trace``.
- ``tag``: calls carrying this tag (tags are stored as a JSON list).
- ``status``: ``ok`` (below 400), ``error`` (400 and above) or one code (``429``).

Bad input raises ``FilterError`` with a message fit to show a user as is.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_

from llmtally.ledger.schema import calls

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.sql import ColumnElement

__all__ = [
    "ALL_TIME",
    "ERROR_STATUS",
    "FILTER_PARAMS",
    "MAX_TEXT",
    "CallFilter",
    "FilterError",
    "check_text",
    "model_condition",
    "parse_since",
    "parse_status",
]

ERROR_STATUS = 400
MAX_TEXT = 500
ALL_TIME = "all"
FILTER_PARAMS = (
    "since",
    "until",
    "provider",
    "model",
    "user",
    "feature",
    "key",
    "tag",
    "trace",
    "status",
)
_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class FilterError(ValueError):
    """A filter that cannot be applied; the message says why and what would work."""


def parse_since(text: str, now: dt.datetime | None = None, name: str = "--since") -> dt.datetime:
    """``30m``, ``6h``, ``7d``, ``2w`` ago, or an ISO date/time (UTC unless it says).

    ``name`` is how the message names the value (``--since`` on the command line)."""
    found = _RELATIVE.match(text.strip().lower())
    try:
        if found:
            ago = dt.timedelta(**{_UNITS[found[2]]: int(found[1])})
            return (now or dt.datetime.now(dt.UTC)) - ago
        moment = dt.datetime.fromisoformat(text.strip())
    except (ValueError, OverflowError):
        raise FilterError(
            f"{name}: {text!r} is neither a duration (30m, 6h, 7d) nor a date "
            "(2026-11-01, 2026-11-01T09:30)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def parse_status(text: str) -> str:
    """``ok``, ``error`` or an HTTP status code (100-599), as given."""
    value = text.strip().lower()
    if value in ("ok", "error") or (value.isdigit() and 100 <= int(value) <= 599):
        return value
    raise FilterError(
        f"status: {text!r} is not a status; use ok, error or an HTTP code such as 429"
    )


def check_text(name: str, value: str) -> str:
    """A filter value or id as given, refused when no stored value could equal it."""
    if len(value) > MAX_TEXT:
        raise FilterError(f"{name}: longer than {MAX_TEXT} characters")
    if _CONTROL.search(value):
        raise FilterError(f"{name}: contains control characters")
    return value


def model_condition(
    text: str,
    model_is: Callable[[str], ColumnElement[bool]],
    provider: ColumnElement[Any],
) -> ColumnElement[bool]:
    """Calls whose model is ``text``, or whose provider and model are ``text`` as
    shown (``openai/gpt-4o``, ``openai / gpt-4o``; a model name may itself hold
    a slash, as ``together/meta-llama/Llama-3``): split at each slash."""
    choices = [model_is(text)]
    parts = text.split("/")
    for i in range(1, len(parts)):
        head, tail = "/".join(parts[:i]).strip(), "/".join(parts[i:]).strip()
        if head and tail:
            choices.append(and_(provider == head, model_is(tail)))
    return or_(*choices)


def _called(model: str) -> ColumnElement[bool]:
    """``Call.model`` is ``model``: the model that answered, else the one asked for."""
    c = calls.c
    return or_(c.model_served == model, and_(c.model_served.is_(None), c.model_requested == model))


def _utc(name: str, moment: dt.datetime) -> dt.datetime:
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise FilterError(f"{name}: {moment.isoformat()} is out of range") from None


@dataclass(frozen=True, slots=True)
class CallFilter:
    """A set of calls; ``None`` leaves that attribute unconstrained."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    provider: str | None = None
    model: str | None = None
    user: str | None = None
    feature: str | None = None
    key: str | None = None
    tag: str | None = None
    trace: str | None = None
    status: str | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise FilterError(f"{name} must be timezone-aware, got {moment.isoformat()}")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise FilterError(
                f"since ({self.since.isoformat(timespec='seconds')}) must be before "
                f"until ({self.until.isoformat(timespec='seconds')})"
            )

    @classmethod
    def from_params(
        cls, params: Mapping[str, str], now: dt.datetime, default_since: str | None = None
    ) -> CallFilter:
        """The filter that query parameters describe. An absent ``since`` is
        ``default_since``; an empty one (or ``all``) means no lower bound."""
        values: dict[str, Any] = {}
        for name in FILTER_PARAMS:
            raw = params.get(name)
            if raw is None and name == "since":
                raw = default_since
            if raw is None or not raw.strip() or raw.strip().lower() == ALL_TIME:
                continue
            text = check_text(name, raw.strip())
            if name in ("since", "until"):
                values[name] = _utc(name, parse_since(text, now, name))
            elif name == "status":
                values[name] = parse_status(text)
            else:
                values[name] = text
        return cls(**values)

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def conditions(self, dialect: str) -> list[ColumnElement[bool]]:
        """The WHERE conditions, one per constraint (``dialect``: sqlite or postgresql)."""
        c = calls.c
        where: list[ColumnElement[bool]] = []
        if self.since is not None:
            where.append(c.started_at >= self.since.astimezone(dt.UTC))
        if self.until is not None:
            where.append(c.started_at < self.until.astimezone(dt.UTC))
        if self.model is not None:
            where.append(model_condition(self.model, _called, c.provider))
        for value, column in (
            (self.provider, c.provider),
            (self.user, c.user_id),
            (self.feature, c.feature),
            (self.key, c.key_id),
            (self.trace, c.trace_id),
        ):
            if value is not None:
                where.append(column == value)
        if self.tag is not None:
            where.append(_has_tag(self.tag, dialect))
        if self.status is not None:
            where.append(_status_is(self.status))
        return where

    def apply(self, query: Select[Any], dialect: str) -> Select[Any]:
        conditions = self.conditions(dialect)
        return query.where(*conditions) if conditions else query


def _has_tag(tag: str, dialect: str) -> ColumnElement[bool]:
    # The stored JSON list holds the tag as this exact JSON string; a case-sensitive
    # substring test (SQLite's LIKE ignores ASCII case, so no LIKE).
    needle = json.dumps(tag)
    found = func.strpos if dialect == "postgresql" else func.instr
    return found(calls.c.tags, needle) > 0


def _status_is(status: str) -> ColumnElement[bool]:
    if status == "ok":
        return calls.c.status < ERROR_STATUS
    if status == "error":
        return calls.c.status >= ERROR_STATUS
    return calls.c.status == int(status)
