"""The ``llmtally`` command: thin wrappers that parse, call one library function, render."""

from __future__ import annotations

import typer

from llmtally.cli import (
    advise_applied,
    advise_cmd,
    advise_verify,  # noqa: F401 (registers `advise verify` on advise_app)
    alerts_cmd,
    budgets_cmd,
    calls_cmd,
    cost_cmd,
    count_cmd,
    estimate_cmd,
    export_cmd,
    import_cmd,
    keys_cmd,
    lab_cmd,
    prices_cmd,
    reconcile_cmd,
    report_cmd,
    selfhost_cmd,
    serve_cmd,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="llmtally",
    help="Make the cost of using large language models visible, predictable and smaller.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("prices")(prices_cmd.prices)
app.command("cost")(cost_cmd.cost)
app.command("count")(count_cmd.count)
app.add_typer(calls_cmd.app, name="calls")
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(alerts_cmd.app, name="alerts")
app.add_typer(budgets_cmd.app, name="budgets")
app.command("serve")(serve_cmd.serve)
app.command("report")(report_cmd.report)
app.command("export")(export_cmd.export)
app.command("import")(import_cmd.import_history)
app.command("estimate")(estimate_cmd.estimate)
app.add_typer(lab_cmd.app, name="lab")
app.add_typer(selfhost_cmd.app, name="selfhost")
app.add_typer(reconcile_cmd.app, name="reconcile")
app.add_typer(advise_cmd.advise_app, name="advise")
advise_cmd.advise_app.command("applied")(advise_applied.applied)


def main() -> None:
    app()
