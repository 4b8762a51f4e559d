"""``llmtally calls [show ID]``: the ledger, newest first, and one call in full."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import typer

from llmtally.cli.common import CurrencyOption, fail, print_json, shown_currency

if TYPE_CHECKING:  # imported where used, so that the command line starts quickly
    from decimal import Decimal

    from rich.table import Table

    from llmtally.analytics.shown import Shown
    from llmtally.currency import Converted
    from llmtally.ledger import CallBodies, Store
    from llmtally.usage import Call

__all__ = ["app", "billed_of", "call_json", "parse_since", "shown_costs"]

# A call's cost as shown: the amount (None: unpriced) and the rate that converted
# it from USD (None: not converted, e.g. billed in the shown currency).
ShownCost = tuple["Decimal | None", "Converted | None"]

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


def billed_of(store: Store, ids: list[str]) -> dict[str, dict[str, Any]]:
    """What the calls among ``ids`` billed in another currency than USD, by id:
    the amount, its currency and the rate that made their USD ``cost``
    (``calls.billed_*``, ``fx_*``; llmtally.currency.pivot). USD calls are absent."""
    from sqlalchemy import select

    from llmtally.ledger.schema import calls

    columns = [calls.c.id, calls.c.billed_currency, calls.c.billed_total]
    columns += [calls.c.fx_rate, calls.c.fx_date, calls.c.fx_source]
    found: dict[str, dict[str, Any]] = {}
    with store.engine.connect() as conn:
        for start in range(0, len(ids), 500):
            query = select(*columns).where(
                calls.c.id.in_(ids[start : start + 500]), calls.c.billed_currency.is_not(None)
            )
            for row in conn.execute(query):
                found[row.id] = {
                    "amount": _amount(row.billed_total),
                    "currency": row.billed_currency,
                    "fx_rate": row.fx_rate,
                    "fx_date": None if row.fx_date is None else row.fx_date.isoformat(),
                    "fx_source": row.fx_source,
                }
    return found


def call_json(
    call: Call, bodies: CallBodies | None = None, billed: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Every field of a call, JSON-ready (amounts as exact decimal strings).
    ``billed``: what it billed in another currency (:func:`billed_of`); null for USD."""
    data: dict[str, Any] = {
        "id": call.id,
        "started_at": call.started_at.isoformat(),
        "provider": call.provider,
        "model_requested": call.model_requested,
        "model_served": call.model_served,
        "endpoint": call.endpoint,
        "status": call.status,
        "error": call.error,
        "flags": list(call.flags),
        "latency_ms": call.latency_ms,
        "ttft_ms": call.ttft_ms,
        "output_tokens_per_s": call.output_tokens_per_s,
        "usage": call.usage.to_dict() | {"source": call.usage.source},
        "cost_usd": None if call.cost is None else _amount(call.cost.total),
        "cost": None,
        "cost_error": call.cost_error,
        "source_cost_usd": _amount(call.source_cost),  # what the call's producer reported
        "billed": billed,  # in the price's currency when not USD, with the rate used
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


def shown_costs(
    shown: Shown, found: list[Call], billed: dict[str, dict[str, Any]]
) -> dict[str, ShownCost]:
    """Each call's cost in ``shown``'s currency, by id: a call billed in that
    currency at its billed total exactly (no round trip through USD); any other
    its USD cost at the rate of its UTC day (:meth:`Shown.on`, which notes the
    rate as used). A missing rate is a :class:`~llmtally.currency.NoRateError`."""
    return {c.id: _shown_cost(shown, c, billed.get(c.id)) for c in found}


def _shown_cost(shown: Shown, call: Call, billed: dict[str, Any] | None) -> ShownCost:
    from decimal import Decimal

    if billed is not None and billed["currency"] == shown.code and billed["amount"] is not None:
        return Decimal(billed["amount"]), None
    if call.cost is None:
        return None, None
    day = call.started_at.astimezone(dt.UTC).date()
    if call.cost.total == 0:
        return call.cost.total, None  # nothing to convert: no rate needed
    return shown.on(call.cost.total, day), shown.rate_on(day)


def _shown_json(shown: Shown, cost: ShownCost) -> dict[str, Any]:
    """``{"cost": {"amount", "currency"} | null, "rate": {...} | null}``: the rate
    that converted the USD cost (1 USD in the shown currency); null when none did."""
    from llmtally.analytics.shown import rate_json

    amount, rate = cost
    data: dict[str, Any] = {"cost": None if amount is None else shown.json(amount)}
    data["rate"] = None if rate is None else rate_json(rate)
    return data


WIDE = 120  # from this terminal width up, the table also shows latency, user and feature


def _cost(call: Call, shown: Shown | None, costs: dict[str, ShownCost]) -> str:
    from llmtally.money import usd

    if shown is not None:
        amount = costs[call.id][0]
        return "unpriced" if amount is None else shown.text(amount)
    return "unpriced" if call.cost is None else usd(call.cost.total)


def _columns(table: Table, wide: bool, cost: str = "cost") -> None:
    # ids of calls made in one millisecond share 25 characters: folded, not cut
    table.add_column("id", overflow="fold", min_width=10, style="cyan")
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("provider/model", overflow="fold", ratio=1, min_width=16)
    numbers = ["HTTP", "tokens in/out" if wide else "tok in/out", cost]
    for name in numbers + (["latency"] if wide else []):
        table.add_column(name, justify="right", no_wrap=True)
    if wide:
        table.add_column("user", overflow="fold")
        table.add_column("feature", overflow="fold")


def _calls_table(
    calls: list[Call],
    id_length: int,
    width: int,
    shown: Shown | None = None,
    costs: dict[str, ShownCost] | None = None,
) -> Table:
    """The calls, one row each; below WIDE columns, a shorter time and no
    latency, user and feature (``--json`` has every field). With ``shown``, the
    cost in its currency (``costs``) and the rates used below."""
    from rich import box
    from rich.table import Table

    from llmtally.fit_table import snug
    from llmtally.money import duration_ms

    wide = width >= WIDE
    title = f"{len(calls)} call{'' if len(calls) == 1 else 's'}, newest first"
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
    _columns(table, wide, "cost" if shown is None else f"cost ({shown.code})")
    when = "%Y-%m-%d %H:%M:%S" if wide else "%m-%d %H:%M"
    for c in calls:
        row = [
            c.id[:id_length],
            c.started_at.strftime(when),
            c.label,
            str(c.status),
            f"{c.usage.input_tokens:,}/{c.usage.output_tokens:,}",
            _cost(c, shown, costs or {}),
        ]
        wider = [duration_ms(c.latency_ms), c.user or "", c.feature or ""] if wide else []
        table.add_row(*row, *wider)
    notes = ["`llmtally calls show ID`: one call in full"]
    notes += [] if wide else ["latency, user, feature: a wider terminal or --json"]
    if shown is not None:
        notes += shown.notes()
        if any(rate is None and a for a, rate in (costs or {}).values()):
            notes.append(f"calls billed in {shown.code}: as billed, not converted")
    table.caption = "\n".join(notes)
    return snug(table)  # times, counts and money as wide as they are: never cut


@app.callback(invoke_without_command=True)
def calls(
    ctx: typer.Context,
    since: str | None = typer.Option(None, "--since", help="30m, 6h, 7d, or a date/time."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Only this model: gpt-4o or provider/model, as shown."
    ),
    user: str | None = typer.Option(None, "--user", help="Only this user."),
    feature: str | None = typer.Option(None, "--feature", help="Only this feature."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="At most this many calls."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    currency: str | None = CurrencyOption,
    database: str | None = DatabaseOption,
) -> None:
    """The calls in the ledger, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from llmtally.analytics.call_ids import unique_prefix_length
    from llmtally.analytics.explorer import call_page
    from llmtally.analytics.filters import CallFilter

    try:
        start = None if since is None else parse_since(since)
        where = CallFilter(since=start, model=model, user=user, feature=feature)
    except ValueError as exc:
        fail(str(exc))
    shown = shown_currency(currency)
    with _open(database) as store:
        found = call_page(store, where, limit=limit).calls
        id_length = unique_prefix_length(store, (c.id for c in found))
        wanted = as_json or not shown.is_pivot
        billed = billed_of(store, [c.id for c in found]) if wanted else {}
    if shown.is_pivot:
        _print_calls(found, id_length, billed, as_json)
    else:
        _print_shown(found, id_length, billed, as_json, shown)


def _print_calls(
    found: list[Call], id_length: int, billed: dict[str, dict[str, Any]], as_json: bool
) -> None:
    if as_json:
        print_json([call_json(c, billed=billed.get(c.id)) for c in found])
        return
    from rich.console import Console

    console = Console(highlight=False)
    console.print(_calls_table(found, id_length, console.width))


def _print_shown(
    found: list[Call],
    id_length: int,
    billed: dict[str, dict[str, Any]],
    as_json: bool,
    shown: Shown,
) -> None:
    """The calls with their cost in ``shown``'s currency too (``shown`` in JSON)."""
    from llmtally.currency import NoRateError

    try:
        costs = shown_costs(shown, found, billed)
    except NoRateError as exc:
        fail(f"--currency {shown.code}: {exc}; add a rate to your rates file (LLMTALLY_RATES)")
    if as_json:
        rows = [call_json(c, billed=billed.get(c.id)) for c in found]
        for row in rows:
            row["shown"] = _shown_json(shown, costs[row["id"]])
        print_json(rows)
        return
    from rich.console import Console

    console = Console(highlight=False)
    console.print(_calls_table(found, id_length, console.width, shown, costs))


def _shown(key: str, value: Any) -> str:
    """A field for reading: durations in ms or s, rates to one decimal, counts
    with thousands separators, amounts exact with a ``$`` (``--json`` has the
    raw values)."""
    from decimal import Decimal

    from llmtally.money import duration_ms, usd_exact

    if value is None:
        return ""
    if key in ("latency_ms", "ttft_ms"):
        return duration_ms(value)
    if key == "output_tokens_per_s":
        return f"{value:,.1f}"
    if key in ("cost_usd", "source_cost_usd") or key.startswith("cost.breakdown."):
        return usd_exact(Decimal(value))
    if key == "flags":
        return ", ".join(value)
    if isinstance(value, int) and not isinstance(value, bool) and key != "status":
        return f"{value:,}"
    return str(value)


def _show_table(
    data: dict[str, Any], shown: Shown | None = None, cost: ShownCost = (None, None)
) -> Table:
    """Every field of one call; with ``shown``, its cost in that currency too and
    the rate that converted it in the caption."""
    from rich.table import Table

    table = Table(title=f"call {data['id']}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in _flatten("", data):
        if key != "id" and not key.startswith("shown."):
            table.add_row(key.removesuffix("_ms"), _shown(key, value))
        if key == "cost_usd" and shown is not None:  # the shown cost right below the USD one
            amount, rate = cost
            text = "unpriced" if amount is None else shown.text(amount)
            table.add_row(f"cost ({shown.code})", text)
            table.caption = "\n".join(shown.notes()) if rate is not None else None
    return table


def _flatten(prefix: str, data: dict[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            rows += _flatten(f"{prefix}{key}.", value)
        else:
            rows.append((prefix + key, value))
    return rows


def _by_prefix(store: Store, prefix: str) -> str:
    """The one id that starts with ``prefix``; '' when none does; a clear
    error when several do."""
    from llmtally.analytics.call_ids import SHOWN_MATCHES, ids_with_prefix

    found = ids_with_prefix(store, prefix)
    if len(found) > 1:
        some = ", ".join(found[:SHOWN_MATCHES]) + (", ..." if len(found) > SHOWN_MATCHES else "")
        fail(f"{prefix!r} starts more than one call ({some}): give more of the id", code=1)
    return found[0] if found else ""


@app.command("show")
def show(
    call_id: str = typer.Argument(
        ..., metavar="ID", help="The call's id, or any start of it that names one call."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    currency: str | None = CurrencyOption,
    database: str | None = DatabaseOption,
) -> None:
    """One call: every field, the cost by component, and its bodies if stored."""
    shown = shown_currency(currency)
    with _open(database) as store:
        call = store.get(call_id) or store.get(_by_prefix(store, call_id))
        bodies = store.get_bodies(call.id) if call is not None else None
        billed = billed_of(store, [call.id]) if call is not None else {}
    if call is None:
        fail(f"no call {call_id!r} in the ledger", code=1)
    data = call_json(call, bodies, billed.get(call.id))
    cost = None if shown.is_pivot else _one_shown(shown, call, billed)
    if cost is not None:
        data["shown"] = _shown_json(shown, cost)
    if as_json:
        print_json(data)
        return
    from rich.console import Console

    if cost is None:
        Console(highlight=False).print(_show_table(data))
    else:
        Console(highlight=False).print(_show_table(data, shown, cost))


def _one_shown(shown: Shown, call: Call, billed: dict[str, dict[str, Any]]) -> ShownCost:
    """One call's cost in ``shown``'s currency (:func:`shown_costs`), or a clear
    error when no rate covers its day."""
    from llmtally.currency import NoRateError

    try:
        return shown_costs(shown, [call], billed)[call.id]
    except NoRateError as exc:
        fail(f"--currency {shown.code}: {exc}; add a rate to your rates file (LLMTALLY_RATES)")


def _register_reprice() -> None:
    """``calls reprice`` (its own module: llmtally.cli.calls_reprice)."""
    from llmtally.cli.calls_reprice import reprice

    app.command("reprice")(reprice)


_register_reprice()
