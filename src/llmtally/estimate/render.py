"""Rich tables for an estimate (the models side by side, where the money goes,
what prompt caching saves or costs) and for re-priced traffic. Amounts are
rounded for display (``--json`` carries them exactly); an estimate's are in its
currency (:func:`amount`), with the exchange rates it used under the tables."""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_HALF_EVEN, Decimal

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from llmtally import money
from llmtally.currency import Money, format_money
from llmtally.estimate.provisioned import Comparison
from llmtally.estimate.reprice_result import Repricing
from llmtally.estimate.result import COMPONENTS, SOURCES, Estimate, ModelEstimate, divide
from llmtally.fit_table import Column, SplitTable, plain_table, snug

__all__ = [
    "SOURCE_LABELS",
    "amount",
    "break_even_text",
    "estimate_tables",
    "percent",
    "provisioned_notes",
    "provisioned_table",
    "reprice_tables",
    "usd",
]

_CENT = Decimal("0.01")
SOURCE_LABELS = {
    "prompt": "visible prompt",
    "system": "hidden system prompt",
    "context": "history / context",
    "output": "visible output",
    "reasoning": "hidden reasoning",
    "background": "background calls",
    "media": "media (images, audio)",
    "embeddings": "embeddings",
    "storage": "vector storage",
    "fees": "per-request fees",
}


def usd(amount: Decimal | None) -> str:
    """Dollars for display, as everywhere (``llmtally.money.usd``)."""
    return money.usd(amount, none="-")


def amount(value: Decimal | None, code: str) -> str:
    """An amount in ``code`` for display (``llmtally.currency.format_money``)."""
    return "-" if value is None else format_money(Money(value, code))


def percent(share: Decimal) -> str:
    return f"{(share * 100).normalize():f}%"


def _requests(count: Decimal) -> str:
    return f"{count:,} request{'' if count == 1 else 's'} a month"


def _summary(est: Estimate) -> Table:
    table = plain_table(
        f"{est.name}: {_requests(est.requests_per_month)}, "
        f"prices of {est.price_date.isoformat()} in {est.currency} (cheapest first)"
    )
    for name in ("#", "model", "per request", "per day", "per month", "one-off"):
        if name == "model":
            table.add_column(name, overflow="fold", ratio=1)
        else:
            table.add_column(name, justify="right", no_wrap=True)
    rank = 0
    for row in est.models:
        if row.error is not None:
            table.add_row("", row.model, Text("cannot price", style="red"), "-", "-", "")
            continue
        rank += 1
        table.add_row(
            str(rank),
            row.model,
            amount(row.per_request, est.currency),
            amount(row.per_day, est.currency),
            amount(row.per_month, est.currency),
            amount(row.one_off, est.currency) if row.one_off else "",
        )
    return snug(table)


def _breakdown(est: Estimate, attr: str, names: tuple[str, ...], title: str) -> SplitTable | None:
    """A column per priced model, as many side by side as the terminal holds."""
    priced = [row for row in est.models if row.error is None]
    used = [n for n in names if any(getattr(row, attr)[n] for row in priced)]
    if not priced or not used:
        return None
    labels = SOURCE_LABELS if attr == "sources" else {}
    key = Column("per month", [labels.get(n, n.replace("_", " ")) for n in used])
    columns = [
        Column(
            row.model.split("/", 1)[-1],
            [amount(getattr(row, attr)[n], est.currency) for n in used],
        )
        for row in priced
    ]
    return SplitTable(title, key, columns)


def _cache_cell(saving: Decimal, code: str) -> Text:
    if saving < 0:
        return Text(f"costs {amount(-saving, code)} more", style="bold red")
    return Text(f"saves {amount(saving, code)}", style="green")


def break_even_text(rate: Decimal | None) -> str:
    if rate is None:
        return "never pays"
    return "any" if rate == 0 else percent(rate)


def _caches(rows: tuple[ModelEstimate, ...], code: str) -> Table | None:
    lines = [(row, cache) for row in rows for cache in row.caches]
    if not lines:
        return None
    table = plain_table("Prompt caching against no caching (per month)")
    table.add_column("model", overflow="fold", ratio=1)
    table.add_column("call", overflow="fold")
    for name in ("hit rate", "net", "break-even hit rate"):
        table.add_column(name, justify="right", no_wrap=True)
    for row, cache in lines:
        if not cache.priced:
            table.add_row(row.model, cache.call, percent(cache.hit_rate), "no caching priced", "-")
            continue
        even = cache.break_even_hit_rate
        table.add_row(
            row.model,
            cache.call,
            percent(cache.hit_rate),
            _cache_cell(cache.saving_per_month, code),
            break_even_text(even),
        )
    return snug(table)


def estimate_tables(est: Estimate) -> list[RenderableType]:
    """The summary, the breakdowns by component and by source, caching, notes."""
    out: list[RenderableType] = [_summary(est)]
    for attr, names, title in (
        ("components", COMPONENTS, "By component"),
        ("sources", SOURCES, "By source: where the money goes"),
    ):
        table = _breakdown(est, attr, names, title)
        if table is not None:
            out.append(table)
    caches = _caches(est.models, est.currency)
    if caches is not None:
        out.append(caches)
    if est.fx:
        rates = "; ".join(line.text() for line in est.fx)
        out.append(Text(f"in {est.currency} at {rates}", style="dim"))
    errors = [f"cannot price {row.model}: {row.error}" for row in est.models if row.error]
    if errors:
        out.append(Text("\n".join(errors), style="red"))
    notes = list(dict.fromkeys(n for row in est.models for n in row.notes))
    if notes:
        out.append(Text("\n".join(f"note: {n}" for n in notes), style="dim"))
    out.append(Text("amounts rounded for display; --json has them exactly", style="dim"))
    return out


def _vs(cost: Decimal | None, actual: Decimal) -> str:
    if cost is None:
        return "-"
    if not actual:
        return usd(cost)
    return f"{usd(cost)} ({(cost / actual).quantize(_CENT, ROUND_HALF_EVEN)}x)"


def _reprice_main(rep: Repricing) -> SplitTable:
    """The groups (rows) against each target (columns, as many side by side as
    the terminal holds), totals in the footer."""
    until = "now" if rep.until is None else f"{rep.until:%Y-%m-%d %H:%M}"
    total = rep.total
    keys = ["(none)" if row.key is None else row.key for row in rep.rows]
    columns = [
        Column("calls", [f"{row.calls:,}" for row in rep.rows], f"{total.calls:,}"),
        Column("recorded", [usd(row.actual) for row in rep.rows], usd(total.actual)),
    ]
    for info in rep.targets:
        cells = [
            "-" if info.error else _vs(row.figures[info.model].cost, row.actual) for row in rep.rows
        ]
        footer = "cannot price" if info.error else _vs(rep.cost(info.model), total.actual)
        columns.append(Column(info.model.split("/", 1)[-1], cells, footer))
    return SplitTable(
        f"Recorded calls {rep.since:%Y-%m-%d %H:%M} to {until} UTC, re-priced at "
        f"prices of {rep.price_date.isoformat()}, by {rep.by}",
        Column(rep.by, keys, "total"),
        columns,
    )


def _reprice_methods(rep: Repricing) -> Table:
    table = plain_table("How each figure was converted (calls per method)")
    for name in ("target", "methods", "notes"):
        table.add_column(name, overflow="fold")
    for info in rep.targets:
        methods = rep.total.figures[info.model].methods
        used = ", ".join(f"{name}: {n:,}" for name, n in sorted(methods.items()))
        notes = [f"{text}: {n:,} call{'' if n == 1 else 's'}" for text, n in info.notes.items()]
        if info.error:
            notes.insert(0, f"cannot price: {info.error}")
        table.add_row(info.model, used or "-", Text("\n".join(notes), style="dim"))
    return table


def reprice_tables(rep: Repricing) -> list[RenderableType]:
    """The groups with each target's cost, the methods used, the ratios, what was left out."""
    out: list[RenderableType] = [_reprice_main(rep), _reprice_methods(rep)]
    pairs = [r for r in rep.ratios if r.method == "ratio"]
    if pairs:
        table = plain_table("Tokenizer ratios (target / source tokens, built-in English corpus)")
        for name in ("source tokenizer", "target", "ratio"):
            table.add_column(name, justify="right" if name == "ratio" else "left")
        for r in pairs:
            table.add_row(r.source_tokenizer, r.target, r.ratio)
        out.append(table)
    left = [f"{n:,} {why}" for why, n in rep.left_out.items() if n]
    if left:
        out.append(Text("left out: " + "; ".join(left), style="dim"))
    out.append(Text("amounts rounded for display; --json has them to 1e-10", style="dim"))
    return out


def _volume(count: Decimal | None) -> str:
    return "-" if count is None else f"{count.quantize(Decimal(1), ROUND_HALF_EVEN):,}"


def provisioned_table(rows: list[Comparison]) -> Table:
    """On-demand against provisioned capacity, one column per compared model."""
    first = rows[0].capacity
    unit = first.offer.unit
    price = (
        f"{usd(first.usd_per_unit_hour)} per {unit}-hour"
        if first.usd_per_unit_month is None
        else f"{usd(first.usd_per_unit_month)} per {unit}-month"
    )
    spec, side = first.offer.output_capacity, first.output
    if spec is not None and side is not None:  # output bought apart (Bedrock Reserved)
        out_price = usd(side.usd_per_unit_hour)
        price += f" + {side.units} {spec.unit} at {out_price} per {spec.unit}-hour"
    table = plain_table(
        f"on-demand vs provisioned {first.offer.id}: {first.units} {unit} "
        f"on the {first.term} term at {price}, {percent(first.utilisation)} busy"
    )
    table.add_column("", overflow="fold", ratio=1)
    for row in rows:
        table.add_column(row.model, justify="right", no_wrap=True)
    lines: list[tuple[str, list[str]]] = [
        ("on-demand per month", [usd(r.on_demand_per_month) for r in rows]),
        ("provisioned per month", [usd(r.provisioned_per_month) for r in rows]),
        ("on-demand per request", [usd(r.on_demand_per_request) for r in rows]),
        ("provisioned per request", [usd(r.provisioned_per_request) for r in rows]),
        ("requests a month", [_volume(r.requests_per_month) for r in rows]),
        ("capacity, requests a month", [_volume(r.capacity_requests_per_month) for r in rows]),
        ("break-even, requests a month", [_break_even(r) for r in rows]),
        (
            "break-even, tokens a month",
            [
                "not reached"
                if r.break_even_reachable is False
                else _volume(r.break_even_tokens_per_month)
                for r in rows
            ],
        ),
        ("units the volume needs", [str(r.units_needed) for r in rows]),
        *(
            [("output units the volume needs", [str(r.output_units_needed) for r in rows])]
            if side is not None
            else []
        ),
        ("cheaper", [r.cheaper for r in rows]),
    ]
    for label, cells in lines:
        table.add_row(label, *cells)
    return snug(table)


def _break_even(row: Comparison) -> str:
    """The break-even volume, or that the units held cannot serve it."""
    if row.break_even_reachable is False:
        served = f"capacity {_volume(row.capacity_requests_per_month)}"
        if row.capacity.output is not None:  # two sides held: the title names both
            return f"not reached ({served})"
        return f"not reached with {row.capacity.units} {row.capacity.offer.unit} ({served})"
    return _volume(row.break_even_requests_per_month)


def _full_use(row: Comparison) -> str:
    """A request's cost at full use, and how it comes about where one unit serves it."""
    cost, per_unit = usd(row.provisioned_per_request), row.requests_per_unit_hour
    if per_unit is None:  # the output side bought apart
        return f"{cost} a request with both sides fully used"
    hourly = divide(row.capacity.per_hour(row.hours_per_month), Decimal(row.capacity.units))
    unit = row.capacity.offer.unit
    shown = per_unit.quantize(Decimal(1).scaleb(min(per_unit.adjusted() - 2, 0)), ROUND_HALF_EVEN)
    return (
        f"{cost} a request at full use ({money.usd_rate(hourly)} per {unit}-hour / "
        f"{shown:,f} requests per {unit}-hour)"
    )


def provisioned_notes(rows: list[Comparison]) -> Text | None:
    """For each row whose break-even the units held cannot serve: whether any number
    of units would, by comparing a request's cost at full use with on-demand."""
    lines = []
    for row in rows:
        if row.break_even_reachable is not False:
            continue
        unit, demand = row.capacity.offer.unit, usd(row.on_demand_per_request)
        scaled = row.break_even_units
        if scaled is not None and scaled.output is not None:
            spec = row.capacity.offer.output_capacity
            out_unit = spec.unit if spec is not None else "output units"
            lines.append(
                f"{row.model}: {_full_use(row)} is below {demand} on demand, but the "
                f"sides held are out of proportion: {scaled.units} {unit} with "
                f"{scaled.output.units} {out_unit} would break even, at "
                f"{_volume(replace(row, capacity=scaled).break_even_requests_per_month)} "
                "requests a month"
            )
        elif row.pays_at_full_use:
            lines.append(
                f"{row.model}: {_full_use(row)} is below {demand} on demand: more units, "
                "in proportion, would break even"
            )
        else:
            above = (
                "above"
                if row.provisioned_per_request > row.on_demand_per_request
                else "no less than"
            )
            lines.append(
                f"{row.model}: provisioned never breaks even, with any number of {unit}: "
                f"{_full_use(row)} is {above} {demand} on demand, and cost and capacity "
                "both grow with the units"
            )
    return Text("\n".join(lines), style="dim") if lines else None
