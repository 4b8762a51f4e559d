"""``llmtally serve``: the gateway on this machine, recording into the ledger."""

from __future__ import annotations

from pathlib import Path

import typer

from llmtally.cli.common import fail

__all__ = ["serve"]

_EXAMPLE = """\
llmtally gateway: {url}
  dashboard: {url}/{login}
  config: {source}
  ledger: {ledger}
Point any OpenAI or Anthropic client at it, for example:

  from openai import OpenAI
  client = OpenAI(base_url="{url}/v1", api_key="{key}")
  client.chat.completions.create(model="{model}",
                                 messages=[{{"role": "user", "content": "Hello"}}])

Then: llmtally calls
"""


def serve(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (not loopback: needs a gateway key)."
    ),
    port: int = typer.Option(
        4000, "--port", min=1, max=65535, envvar="LLMTALLY_PORT", help="Port to listen on."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="Routing config (env LLMTALLY_CONFIG; default ./llmtally.yaml)."
    ),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Ledger database (env LLMTALLY_DATABASE_URL)."
    ),
    admin_token: str | None = typer.Option(
        None,
        "--admin-token",
        help="Token the dashboard asks for; needed when not on loopback "
        "(env LLMTALLY_ADMIN_TOKEN, which keeps it out of the process list).",
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        envvar="LLMTALLY_WORKERS",
        help="Gateway processes on the one port, sharing budgets and the ledger (1 to 64).",
    ),
) -> None:
    """Run the gateway: forward OpenAI/Anthropic/Gemini calls and record each one."""
    from sqlalchemy.exc import SQLAlchemyError

    from llmtally.catalog import CatalogFileError
    from llmtally.config import database_url as ledger_url
    from llmtally.gateway.listen import ListenError, listen
    from llmtally.gateway.local import LocalModelError
    from llmtally.gateway.serve import (
        ServeOptions,
        check_admin_token,
        check_host,
        resolve_config,
        run,
    )
    from llmtally.gateway.workers import check_workers
    from llmtally.web import admin_token as resolve_admin_token

    try:
        check_workers(workers)
        check_host(host, database_url)
        token = resolve_admin_token(admin_token)
        check_admin_token(host, token)
    except (ValueError, OSError, SQLAlchemyError) as exc:
        fail(str(exc))
    try:
        resolved, source = resolve_config(config)
    except CatalogFileError as exc:
        fail(str(exc))
    try:  # before the banner: a port in use is one line and exit 2, not a traceback
        listener = listen(host, port)
    except ListenError as exc:
        fail(str(exc))
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    local = "local/*" in [route.match for route in resolved.routes]
    typer.echo(
        _EXAMPLE.format(
            url=f"http://{shown}:{port}",
            source=source,
            ledger=ledger_url(database_url),
            model="local/smollm2" if local else "gpt-4o-mini",
            key="none-needed-for-local" if local else "<your provider key>",
            login=" (asks for the admin token)" if token else "",
        )
    )
    options = ServeOptions(
        host=host,
        port=port,
        config=config,
        database_url=database_url,
        admin_token=token,
        listener=listener,
        workers=workers,
    )
    from llmtally.alerts.budget_rules import BudgetRuleError

    try:
        run(options)
    except LocalModelError as exc:
        fail(str(exc), code=1)
    except BudgetRuleError as exc:  # an alert rule naming a budget it cannot watch
        fail(f"the config's alerts: {exc}", code=1)
    finally:
        listener.close()
