"""``llmtally calls [show ID]``: the ledger, newest first, and one call in full."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import typer

from llmtally.cli.common import fail, print_json

if TYPE_CHECKING:  # imported where used, so that the command line starts quickly
    from rich.table import Table

    from llmtally.ledger import CallBodies, Store
    from llmtally.usage import Call

__all__ = ["app", "call_json", "parse_since"]

app = typer.Typer(help="The ledger: every call, newest first; `calls show ID` for one.")
DatabaseOption = typer.Option(
    None, "--database", help="Ledger database URL (env LLMTALLY_DATABASE_URL)."
)


def parse_since(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """``30m``, ``6h``, ``7d``, ``2w`` ago, or an ISO date/time (UTC unless it says);
    see :func:`llmtally.analytics.filters.parse_since` (imported here when used, so
    that the command line starts quickly)."""
    from llmtally.analytics.filters import parse_since as parse

    return parse(text, now)


def _open(database: str | None) -> Store:
    from sqlalchemy.exc import SQLAlchemyError

    from llmtally.ledger import open_store

    try:
        return open_store(database)
    except (SQLAlchemyError, ValueError, OSError) as exc:
        fail(f"cannot open the ledger: {exc}", code=1)


def _amount(value: Any) -> str | None:
    from llmtally.meter import decimal_text

    return None if value is None else decimal_text(value)


def call_json(call: Call, bodies: CallBodies | None = None) -> dict[str, Any]:
    """Every field of a call, JSON-ready (amounts as exact decimal strings)."""
    data: dict[str, Any] = {
        "id": call.id,
        "started_at": call.started_at.isoformat(),
        "provider": call.provider,
        "model_requested": call.model_requested,
        "model_served": call.model_served,
        "endpoint": call.endpoint,
        "status": call.status,
        "error": call.error,
        "latency_ms": call.latency_ms,
        "ttft_ms": call.ttft_ms,
        "output_tokens_per_s": call.output_tokens_per_s,
        "usage": call.usage.to_dict() | {"source": call.usage.source},
        "cost_usd": None if call.cost is None else _amount(call.cost.total),
        "cost": None,
        "cost_error": call.cost_error,
    }
    if call.cost is not None:
        c = call.cost
        data["cost"] = {
            "breakdown": c.breakdown(),
            "price_id": c.price.entry_id,
            "catalog_version": c.price.catalog_version,
            "long_context_above": c.long_context_above,
        }
    for name in ("user", "feature", "trace_id", "parent_id", "key_id"):
        data[name] = getattr(call, name)
    data["tags"] = list(call.tags)
    data["input_tokens_by_role"] = {
        role: getattr(call, f"input_{role}_tokens")
        for role in ("system", "tools", "history", "latest_user", "context")
    }
    if bodies is not None:
        data["bodies"] = {
            "request": bodies.request_body,
            "response": bodies.response_body,
            "request_truncated": bodies.request_truncated,
            "response_truncated": bodies.response_truncated,
        }
    return data


def _latency(ms: float) -> str:
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms"


def _calls_table(calls: list[Call]) -> Table:
    from rich.table import Table

    table = Table(title=f"{len(calls)} calls, newest first")
    for name in ("time (UTC)", "provider/model", "status", "tokens in/out", "cost", "latency"):
        table.add_column(name, justify="right" if name != "provider/model" else "left")
    table.add_column("user")
    table.add_column("feature")
    for c in calls:
        cost = "?" if c.cost is None else f"${_amount(c.cost.total)}"
        table.add_row(
            c.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{c.provider}/{c.model}",
            str(c.status),
            f"{c.usage.input_tokens:,} / {c.usage.output_tokens:,}",
            cost,
            _latency(c.latency_ms),
            c.user or "",
            c.feature or "",
        )
    table.caption = "? = not priced (see `llmtally calls show ID`)"
    return table


@app.callback(invoke_without_command=True)
def calls(
    ctx: typer.Context,
    since: str | None = typer.Option(None, "--since", help="30m, 6h, 7d, or a date/time."),
    model: str | None = typer.Option(None, "--model", "-m", help="Only this model."),
    user: str | None = typer.Option(None, "--user", help="Only this user."),
    feature: str | None = typer.Option(None, "--feature", help="Only this feature."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="At most this many calls."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    database: str | None = DatabaseOption,
) -> None:
    """The calls in the ledger, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        start = None if since is None else parse_since(since)
    except ValueError as exc:
        fail(str(exc))
    with _open(database) as store:
        found = store.list(since=start, model=model, user=user, feature=feature, limit=limit)
    if as_json:
        print_json([call_json(c) for c in found])
        return
    from rich.console import Console

    Console(highlight=False).print(_calls_table(found))


def _show_table(data: dict[str, Any]) -> Table:
    from rich.table import Table

    table = Table(title=f"call {data['id']}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in _flatten("", data):
        if key != "id":
            table.add_row(key, "" if value is None else str(value))
    return table


def _flatten(prefix: str, data: dict[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            rows += _flatten(f"{prefix}{key}.", value)
        else:
            rows.append((prefix + key, value))
    return rows


@app.command("show")
def show(
    call_id: str = typer.Argument(..., metavar="ID", help="The call's id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    database: str | None = DatabaseOption,
) -> None:
    """One call: every field, the cost by component, and its bodies if stored."""
    with _open(database) as store:
        call = store.get(call_id)
        bodies = store.get_bodies(call_id) if call is not None else None
    if call is None:
        fail(f"no call {call_id!r} in the ledger", code=1)
    data = call_json(call, bodies)
    if as_json:
        print_json(data)
        return
    from rich.console import Console

    Console(highlight=False).print(_show_table(data))
