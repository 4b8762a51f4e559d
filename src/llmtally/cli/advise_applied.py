"""``llmtally advise applied``: mark a change as applied, so that the advisor
measures what it saved (issue 15), list the marks, or remove one; and
:func:`print_realised`, the realised savings as ``llmtally advise`` prints them.

    llmtally advise applied trim_prompt --feature support --at 2026-11-08 --note "v2 prompt"
    llmtally advise applied --list
    llmtally advise applied --remove 01JD...
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

import typer

from llmtally.cli.calls_cmd import DatabaseOption, parse_since
from llmtally.cli.calls_cmd import _open as open_ledger
from llmtally.cli.common import fail

if TYPE_CHECKING:  # imported where used, so that the command line starts quickly
    from rich.console import Console

    from llmtally.advisor.applied import Applied
    from llmtally.advisor.realised import Realised

__all__ = ["applied", "print_realised"]


def _at(text: str | None) -> dt.datetime:
    now = dt.datetime.now(dt.UTC)
    if text is None:
        return now
    try:
        moment = parse_since(text, now)
    except ValueError as exc:
        fail(str(exc).replace("--since", "--at", 1), 1)
    if moment > now + dt.timedelta(minutes=1):
        fail(f"--at {text!r} is in the future; mark a change once it is applied", 1)
    return moment


def _print_marks(console: Console, marks: Sequence[Applied]) -> None:
    from llmtally.fit_table import plain_table, snug

    if not marks:
        console.print("no change is marked as applied (llmtally advise applied KIND --feature F)")
        return
    table = plain_table("changes marked as applied")
    table.add_column("id", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("where", overflow="fold", ratio=1)
    table.add_column("applied (UTC)", no_wrap=True)
    table.add_column("note", overflow="fold", ratio=1)
    for mark in marks:
        where = mark.feature if mark.model is None else f"{mark.feature}\n{mark.model}"
        when = f"{mark.applied_at:%Y-%m-%d %H:%M}"
        table.add_row(mark.id, mark.kind, where, when, mark.note or "")
    console.print(snug(table))


def applied(
    kind: str | None = typer.Argument(
        None,
        metavar="KIND",
        help="What was applied: batch, prompt_cache, duplicates, right_size, "
        "trim_prompt, cap_output, self_host or fine_tune.",
    ),
    feature: str | None = typer.Option(None, "--feature", help="The feature it was applied to."),
    model: str | None = typer.Option(
        None, "--model", help="Only this model's calls (default all)."
    ),
    at: str | None = typer.Option(
        None, "--at", help="When it took effect (default now): a date/time, or 2d ago."
    ),
    note: str | None = typer.Option(None, "--note", help="What was changed, for the record."),
    show: bool = typer.Option(False, "--list", help="List the changes marked as applied."),
    remove: str | None = typer.Option(None, "--remove", help="Forget the mark with this id."),
    database: str | None = DatabaseOption,
) -> None:
    """Mark a change as applied, so that advise measures what it saved before vs after."""
    from rich.console import Console

    from llmtally.advisor.applied import (
        KINDS,
        AppliedError,
        list_applied,
        mark_applied,
        remove_applied,
    )

    console = Console(highlight=False)
    if show or remove is not None:
        if kind is not None or feature is not None:
            fail("--list and --remove take no KIND or --feature", 1)
        with open_ledger(database) as store:
            if remove is None:
                _print_marks(console, list_applied(store))
            elif not remove_applied(store, remove):
                fail(f"no change is marked with id {remove!r} (see --list)", 1)
            else:
                console.print(f"removed the mark {remove}")
        return
    if kind is None or kind not in KINDS:
        said = "a KIND is needed" if kind is None else f"unknown kind {kind!r}"
        fail(f"{said}; one of: {', '.join(KINDS)}", 1)
    if feature is None:
        fail("--feature is needed: the feature the change was applied to", 1)
    moment = _at(at)
    with open_ledger(database) as store:
        try:
            mark = mark_applied(store, kind, feature, moment, model=model, note=note)
        except AppliedError as exc:
            fail(str(exc), 1)
    where = feature if model is None else f"{feature} on {model}"
    console.print(
        f"marked {kind} on {where} as applied at {mark.applied_at:%Y-%m-%d %H:%M} UTC "
        f"(id {mark.id}); llmtally advise shows what it saved"
    )


def _where(item: Realised) -> str:
    where = item.where
    if "from" in where:
        return f"{where['feature']}\n{where['from']}\n-> {where['to']}"
    return where["feature"] if "model" not in where else f"{where['feature']}\n{where['model']}"


def print_realised(console: Console, realised: Sequence[Realised]) -> None:
    """The realised savings: a table that reads at 80 columns, then how each was
    measured. Nothing is printed when there are none."""
    from llmtally.fit_table import plain_table, snug
    from llmtally.money import usd, usd_rate

    if not realised:
        return
    console.print()
    table = plain_table("realised savings, changes applied")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("change", no_wrap=True)
    table.add_column("where", overflow="fold", ratio=1)
    table.add_column("applied", no_wrap=True)
    table.add_column("$/call before", justify="right", no_wrap=True)
    table.add_column("$/call after", justify="right", no_wrap=True)
    table.add_column("$/month", justify="right", no_wrap=True)
    for n, item in enumerate(realised, 1):
        table.add_row(
            str(n),
            f"{item.kind}\n{item.how_known}",
            _where(item),
            f"{item.applied_at:%Y-%m-%d}\n{item.applied_at:%H:%M} UTC",
            usd_rate(item.cost_per_call_before),
            usd_rate(item.cost_per_call_after),
            usd(item.monthly_saving),
        )
    console.print(snug(table))
    for n, item in enumerate(realised, 1):
        counts = f"{item.calls_before:,} calls before, {item.calls_after:,} after"
        console.print(f"\n[bold]{n}. {item.kind}[/] ({item.how_known}): {counts}", soft_wrap=False)
        _indented(console, f"saved {usd(item.period_saving)} in the period: {item.method}")
        if item.note:
            _indented(console, f"note: {item.note}")


def _indented(console: Console, text: str) -> None:
    from rich.padding import Padding
    from rich.text import Text

    console.print(Padding(Text(text), (0, 0, 0, 2), expand=False))
