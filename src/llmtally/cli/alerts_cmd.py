"""``llmtally alerts [add|list|remove|check]``: the alerts fired, and the rules.

Rules live in the gateway config (``alerts:``) or in the ledger (``alerts
add``); webhooks only in the config, whose URLs are never printed whole.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from llmtally.cli.common import fail, print_json

if TYPE_CHECKING:  # imported where used, so that the command line starts quickly
    from rich.console import Console
    from rich.table import Table

    from llmtally.alerts.config import AlertsConfig, Rule
    from llmtally.alerts.service import CheckResult
    from llmtally.alerts.status import RuleStatus
    from llmtally.alerts.store import FiredAlert
    from llmtally.ledger import Store

__all__ = ["alert_json", "app"]

app = typer.Typer(
    help="Spend alerts: those fired (newest first); add, list, remove rules; check now."
)
DatabaseOption = typer.Option(
    None, "--database", help="Ledger database URL (env LLMTALLY_DATABASE_URL)."
)
ConfigOption = typer.Option(
    None, "--config", help="Gateway config with alerts: (env LLMTALLY_CONFIG; ./llmtally.yaml)."
)
JsonOption = typer.Option(False, "--json", help="Print JSON (exact amounts) instead of text.")


@contextlib.contextmanager
def _open(database: str | None) -> Iterator[Store]:
    """The ledger, closed after; a database failure is one line, never a traceback
    (and never the SQL or its parameters)."""
    from sqlalchemy.exc import SQLAlchemyError

    from llmtally.ledger import open_store

    try:
        store = open_store(database)
    except (SQLAlchemyError, ValueError, OSError) as exc:
        fail(f"cannot open the ledger: {type(exc).__name__}: {str(exc).splitlines()[0]}", code=1)
    try:
        with store:
            yield store
    except SQLAlchemyError as exc:
        fail(f"the ledger database failed ({type(exc).__name__}); try again", code=1)


def _config(path: Path | None) -> AlertsConfig:
    from llmtally.catalog import CatalogFileError
    from llmtally.gateway.serve import resolve_config

    try:
        return resolve_config(path)[0].alerts
    except CatalogFileError as exc:
        fail(str(exc))


def alert_json(alert: FiredAlert) -> dict[str, Any]:
    """An alert as its webhook body, with whether it notified and each delivery."""
    from llmtally.alerts.webhooks import payload

    return payload(alert) | {
        "notify": alert.notify,
        "deliveries": [
            {
                "webhook": d.webhook,
                "target": d.target,
                "state": d.state,
                "attempts": d.attempts,
                "last_error": d.last_error,
                "delivered_at": None if d.delivered_at is None else d.delivered_at.isoformat(),
            }
            for d in alert.deliveries
        ],
    }


def _fired_table(found: list[FiredAlert], wide: bool) -> Table:
    from llmtally.alerts.describe import alert_summary, delivery_summary
    from llmtally.fit_table import plain_table, snug
    from llmtally.money import usd

    count = len(found)
    table = plain_table(
        f"{count} alert{'' if count == 1 else 's'} fired, newest first",
        caption="the full text and every amount: --json",
    )
    table.add_column("fired (UTC)", no_wrap=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("alert", overflow="fold", ratio=2)
    table.add_column("spend", justify="right", no_wrap=True)
    table.add_column("webhooks", overflow="fold", ratio=1)
    when = "%Y-%m-%d %H:%M" if wide else "%m-%d %H:%M"
    for alert in found:
        table.add_row(
            alert.fired_at.strftime(when),
            alert.rule,
            alert_summary(alert),
            usd(alert.spend),
            delivery_summary(alert),
        )
    return snug(table)


def _print_fitting(build: Any, *args: Any) -> None:
    from rich.console import Console

    from llmtally.fit_table import fits

    console = Console(highlight=False)
    table = build(*args, True)
    console.print(table if fits(console, table) else build(*args, False))


@app.callback(invoke_without_command=True)
def alerts(
    ctx: typer.Context,
    since: str | None = typer.Option(None, "--since", help="30m, 6h, 7d, or a date/time."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many alerts."),
    as_json: bool = JsonOption,
    database: str | None = DatabaseOption,
) -> None:
    """The alerts fired, newest first, with each webhook's delivery."""
    if ctx.invoked_subcommand is not None:
        return
    from llmtally.alerts.store import AlertStore
    from llmtally.analytics.filters import FilterError, parse_since

    try:
        start = None if since is None else parse_since(since)
    except FilterError as exc:
        fail(str(exc))
    with _open(database) as store:
        found = AlertStore(store).fired(start, limit)
    if as_json:
        print_json([alert_json(alert) for alert in found])
        return
    if not found:
        typer.echo("No alert has fired" + (f" since {since}." if since else "."))
        return
    _print_fitting(_fired_table, found)


def _amount(option: str, text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        fail(f"{option} {text!r} is not an amount")


def _thresholds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        fail(f"--thresholds {text!r}: percentages separated by commas, e.g. 50,80,100")


@app.command("add")
def add(
    name: str = typer.Argument(..., help="A unique name (letters, digits, '.', '_', '-')."),
    amount_usd: str | None = typer.Option(None, "--amount-usd", help="Spend limit per period."),
    budget: str | None = typer.Option(
        None, "--budget", help="A usd budget's id: its scope, amount and period (budgets list)."
    ),
    period: str | None = typer.Option(None, "--period", help="day, week, month or total."),
    thresholds: str | None = typer.Option(
        None, "--thresholds", help="Percent of the amount, e.g. 50,80,100 (the default)."
    ),
    pace: bool = typer.Option(True, "--pace/--no-pace", help="Warn when on pace to overrun."),
    anomaly: bool = typer.Option(False, "--anomaly", help="A spike rule instead of an amount."),
    factor: str | None = typer.Option(None, "--factor", help="Spike: times the usual (3)."),
    floor_usd: str | None = typer.Option(None, "--floor-usd", help="Spike: at least ($1)."),
    provider: str | None = typer.Option(None, "--provider", help="Only this provider's calls."),
    model: str | None = typer.Option(None, "--model", help="Only this model's calls."),
    user: str | None = typer.Option(None, "--user", help="Only this user's calls."),
    feature: str | None = typer.Option(None, "--feature", help="Only this feature's calls."),
    key: str | None = typer.Option(None, "--key", help="Only this gateway key's calls (id)."),
    team: str | None = typer.Option(None, "--team", help="Only calls with this team's keys."),
    tag: str | None = typer.Option(None, "--tag", help="Only calls with this tag."),
    webhook: list[str] = typer.Option([], "--webhook", help="Webhook name (default: all)."),
    config: Path | None = ConfigOption,
    as_json: bool = JsonOption,
    database: str | None = DatabaseOption,
) -> None:
    """Add a rule to the ledger: every gateway on it evaluates it from its next pass."""
    from pydantic import ValidationError

    from llmtally.alerts.describe import rule_summary

    scope = {"provider": provider, "model": model, "user": user, "feature": feature}
    scope |= {"key": key, "team": team, "tag": tag}
    data: dict[str, Any] = {"name": name, "scope": {k: v for k, v in scope.items() if v}}
    if webhook:
        data["webhooks"] = webhook
    if budget is not None:
        if anomaly:
            fail("--budget is for a spend rule, not --anomaly")
        data["budget"] = budget
    if anomaly:
        data |= {
            "factor": _amount("--factor", factor),
            "floor_usd": _amount("--floor-usd", floor_usd),
        }
    else:
        data |= {"period": period, "amount_usd": _amount("--amount-usd", amount_usd), "pace": pace}
        data["thresholds"] = _thresholds(thresholds)
    try:
        rule = _parse_rule(data, anomaly, _config(config))
    except (ValidationError, ValueError) as exc:
        fail(_first_error(exc))
    rule = _store_rule(rule, database)
    if as_json:
        print_json(rule.model_dump(mode="json", exclude_none=True))
        return
    typer.echo(f"Added alert rule {rule.name!r} ({rule.scope.describe()}): {rule_summary(rule)}.")


def _parse_rule(data: dict[str, Any], anomaly: bool, config: AlertsConfig) -> Rule:
    from llmtally.alerts.config import AnomalyRule, SpendRule

    kind: type[SpendRule] | type[AnomalyRule] = AnomalyRule if anomaly else SpendRule
    rule = kind.model_validate({k: v for k, v in data.items() if v is not None})
    names = {r.name for r in config.all_rules()}
    if rule.name in names:
        raise ValueError(f"the config already has an alert rule named {rule.name!r}")
    for hook in rule.webhooks or []:
        if hook not in config.webhooks:
            known = ", ".join(sorted(config.webhooks)) or "none"
            raise ValueError(f"--webhook {hook!r} is not in the config's alerts.webhooks ({known})")
    return rule


def _first_error(exc: Exception) -> str:
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return str(exc)
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "rule"
    return f"{where}: {first['msg'].removeprefix('Value error, ')}"


def _store_rule(rule: Rule, database: str | None) -> Rule:
    """Store ``rule`` in the ledger; it comes back with its budget's limits."""
    from llmtally.alerts.store import AlertStore, AlertStoreError

    with _open(database) as store:
        try:
            return AlertStore(store).add_rule(rule, dt.datetime.now(dt.UTC))
        except AlertStoreError as exc:
            fail(str(exc), code=1)


def _rules_table(found: list[RuleStatus], wide: bool) -> Table:
    from llmtally.alerts.describe import rule_summary, scope_summary, status_summary
    from llmtally.fit_table import plain_table, snug

    count = len(found)
    table = plain_table(
        f"{count} alert rule{'' if count == 1 else 's'}; now: this period's spend, "
        "or the last hour's",
        caption=None if wide else "source, webhooks: a wider terminal or --json",
    )
    table.add_column("rule", no_wrap=True)
    for head in ("scope", "alerts at", "now"):
        table.add_column(head, overflow="fold", ratio=1)
    if wide:
        table.add_column("source", no_wrap=True)
        table.add_column("webhooks", overflow="fold")
    for status in found:
        rule = status.rule
        cells = [rule.name, scope_summary(rule), rule_summary(rule), status_summary(status)]
        if wide:
            cells += [status.source, ", ".join(rule.webhooks) if rule.webhooks else "all"]
        table.add_row(*cells)
    return snug(table)


def _status_json(status: RuleStatus) -> dict[str, Any]:
    from llmtally.meter import decimal_text

    def exact(value: Decimal | None) -> str | None:
        return None if value is None else decimal_text(value)

    return status.rule.model_dump(mode="json", exclude_none=True) | {
        "source": status.source,
        "spend_usd": exact(status.spend),
        "used_share": exact(status.used),
        "usual_usd": exact(status.usual),
        "problem": status.problem,
    }


@app.command("list")
def list_rules(
    config: Path | None = ConfigOption,
    as_json: bool = JsonOption,
    database: str | None = DatabaseOption,
) -> None:
    """Every rule (the config's and the ledger's) and where its spend stands now."""
    from llmtally.alerts.status import rule_statuses

    settings = _config(config)
    with _open(database) as store:
        found = rule_statuses(store, settings, dt.datetime.now(dt.UTC))
    if as_json:
        print_json([_status_json(status) for status in found])
        return
    if not found:
        typer.echo("No alert rule: add one with `llmtally alerts add` or in the config's alerts:.")
        return
    _print_fitting(_rules_table, found)


@app.command("remove")
def remove(
    name: str = typer.Argument(..., help="The rule's name."),
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """Remove a rule added with ``alerts add`` (the alerts it fired stay listed)."""
    with _open(database) as store:
        from llmtally.alerts.store import AlertStore

        if AlertStore(store).remove_rule(name):
            typer.echo(f"Removed alert rule {name!r}.")
            return
    if any(rule.name == name for rule in _config(config).all_rules()):
        fail(f"alert rule {name!r} is in the config file: remove it there", code=1)
    fail(f"no alert rule named {name!r} in the ledger", code=1)


def _print_check(result: CheckResult, console: Console) -> None:
    from llmtally.alerts.describe import delivery_summary

    count = len(result.fired)
    console.print(f"{count} alert{'' if count == 1 else 's'} fired.")
    for alert in result.fired:
        console.print(f"- {alert.message} [{delivery_summary(alert)}]", markup=False)
    for sent in result.sent:
        what = "delivered" if sent.outcome.ok else f"failed ({sent.outcome.error})"
        then = "" if sent.outcome.ok or sent.final else "; retried later"
        console.print(
            f"webhook {sent.due.webhook!r}, alert {sent.due.alert_id}, attempt "
            f"{sent.due.attempts + 1}: {what}{then}",
            markup=False,
        )


@app.command("check")
def check(
    config: Path | None = ConfigOption,
    as_json: bool = JsonOption,
    database: str | None = DatabaseOption,
) -> None:
    """Evaluate every rule once and deliver what is due (as ``llmtally serve`` does)."""
    from llmtally.alerts.budget_rules import BudgetRuleError
    from llmtally.alerts.service import AlertService
    from llmtally.alerts.store import AlertStore

    settings = _config(config)
    with _open(database) as store:
        try:
            service = AlertService(store, settings)
        except BudgetRuleError as exc:
            fail(f"the config's alerts: {exc}", code=1)
        result = service.check()
        keeper = AlertStore(store)
        fired = [keeper.get(alert.id) or alert for alert in result.fired]
    if as_json:
        sent = [
            {
                "alert_id": s.due.alert_id,
                "webhook": s.due.webhook,
                "attempt": s.due.attempts + 1,
                "ok": s.outcome.ok,
                "http_status": s.outcome.status,
                "error": s.outcome.error,
                "final": s.final,
            }
            for s in result.sent
        ]
        print_json({"fired": [alert_json(a) for a in fired], "sent": sent})
        return
    from rich.console import Console

    from llmtally.alerts.service import CheckResult

    _print_check(CheckResult(fired, result.sent), Console(highlight=False))
