"""Changes a person marks as applied (``llmtally advise applied``), kept in the
ledger's ``advice_applied`` table so that every process that reads the ledger
(the command line, the dashboard) measures the same ones.

A mark names one of the advisor's kinds, the feature (and model, when the change
was made to one model only), the moment it took effect and a note.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from llmtally.ledger import Store
from llmtally.ledger.applied_table import advice_applied
from llmtally.usage import new_ulid

__all__ = ["KINDS", "Applied", "AppliedError", "list_applied", "mark_applied", "remove_applied"]

KINDS = (
    "batch",
    "prompt_cache",
    "duplicates",
    "right_size",
    "trim_prompt",
    "cap_output",
    "self_host",
    "fine_tune",
)


class AppliedError(ValueError):
    """A mark that cannot be stored: an unknown kind, no feature, a naive time."""


@dataclass(frozen=True, slots=True)
class Applied:
    id: str
    kind: str
    feature: str
    model: str | None
    applied_at: dt.datetime
    note: str | None
    created_at: dt.datetime


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def mark_applied(
    store: Store,
    kind: str,
    feature: str,
    applied_at: dt.datetime,
    *,
    model: str | None = None,
    note: str | None = None,
) -> Applied:
    """Store a mark; AppliedError (with the reason) for one that cannot be right."""
    if kind not in KINDS:
        raise AppliedError(f"unknown kind {kind!r}; one of: {', '.join(KINDS)}")
    if not feature.strip():
        raise AppliedError("--feature must name the feature the change was made to")
    if model is not None and not model.strip():
        raise AppliedError("--model must name a model (or be left out: every model)")
    if applied_at.tzinfo is None:
        raise AppliedError("the time a change took effect needs a timezone (UTC is assumed)")
    now = dt.datetime.now(dt.UTC)
    mark = Applied(new_ulid(), kind, feature, model, _utc(applied_at), note or None, now)
    row = {
        "id": mark.id,
        "kind": mark.kind,
        "feature": mark.feature,
        "model": mark.model,
        "applied_at": mark.applied_at,
        "note": mark.note,
        "created_at": mark.created_at,
    }
    with store.engine.connect().execution_options(llmtally_write=True) as conn, conn.begin():
        conn.execute(advice_applied.insert().values(**row))
    return mark


def list_applied(store: Store) -> list[Applied]:
    """Every mark, the earliest change first."""
    query = select(advice_applied).order_by(advice_applied.c.applied_at, advice_applied.c.id)
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        Applied(
            id=r["id"],
            kind=r["kind"],
            feature=r["feature"],
            model=r["model"],
            applied_at=_utc(r["applied_at"]),
            note=r["note"],
            created_at=_utc(r["created_at"]),
        )
        for r in rows
    ]


def remove_applied(store: Store, mark_id: str) -> bool:
    """Forget a mark; False when there is none with that id."""
    query = advice_applied.delete().where(advice_applied.c.id == mark_id)
    with store.engine.connect().execution_options(llmtally_write=True) as conn, conn.begin():
        gone = conn.execute(query).rowcount
    return bool(gone)
