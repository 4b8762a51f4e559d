"""``llmtally report``'s second table: llmtally's cost beside the producers' own.

Shown only when a call in the period carries a cost its producer reported (an
OTel span's cost attribute, an imported tool's spend): per group, the calls
priced by both, llmtally's cost, the source's and the difference (llmtally
minus the source), the largest difference first. Five narrow columns, so that
it reads at 80 columns; ``--format json`` carries the exact digits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from llmtally.analytics.source_costs import SourceCostRow

__all__ = ["difference_text", "source_cost_json", "source_cost_table"]


def difference_text(row: SourceCostRow) -> str:
    """``+$0.03`` when llmtally's cost is higher, ``-$0.03`` when lower, ``$0`` when equal."""
    from llmtally.money import usd

    shown = usd(row.difference)
    return f"+{shown}" if row.difference > 0 and shown != "$0" else shown


def row_json(row: SourceCostRow) -> dict[str, Any]:
    """A comparison row with exact decimal strings."""
    from llmtally.meter import decimal_text

    return {
        "key": row.key,
        "calls": row.calls,
        "cost_total": decimal_text(row.cost_total),
        "source_cost": decimal_text(row.source_cost),
        "difference": decimal_text(row.difference),
        "unpriced": row.unpriced,
        "unpriced_source_cost": decimal_text(row.unpriced_source_cost),
    }


def source_cost_json(
    rows: list[SourceCostRow], total: SourceCostRow | None
) -> dict[str, Any] | None:
    """The ``source_costs`` part of ``report --format json``; None when no call has one."""
    if total is None:
        return None
    return {"rows": [row_json(r) for r in rows], "total": row_json(total)}


def source_cost_table(by: str, rows: list[SourceCostRow], total: SourceCostRow) -> Table:
    from rich import box
    from rich.table import Table

    from llmtally.money import usd

    table = Table(
        title=f"cost reported by the source, by {by}",
        show_footer=True,
        box=box.SIMPLE,
        show_edge=False,
        padding=(0, 1, 0, 0),
    )
    table.add_column(by, footer="total", overflow="fold")
    footers = [f"{total.calls:,}", usd(total.cost_total), usd(total.source_cost)]
    footers.append(difference_text(total))
    for name, footer in zip(("calls", "llmtally", "source", "difference"), footers, strict=True):
        table.add_column(name, footer=footer, justify="right", no_wrap=True)
    for row in rows:
        if row.calls:
            table.add_row(
                "(none)" if row.key is None else row.key,
                f"{row.calls:,}",
                usd(row.cost_total),
                usd(row.source_cost),
                difference_text(row),
            )
    notes = ["difference: llmtally's cost minus the cost the source reported"]
    if total.unpriced:
        calls = "1 call" if total.unpriced == 1 else f"{total.unpriced:,} calls"
        notes.append(
            f"{calls} with a source cost ({usd(total.unpriced_source_cost)}) that llmtally "
            "could not price: not compared"
        )
    table.caption = "; ".join(notes)
    return table
