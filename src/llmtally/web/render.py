"""Jinja2 templates (shipped in the package) and the filters that format numbers.

Autoescaping is on and undefined names fail loudly, so a template typo is an
error in the tests rather than an empty cell in production. Money is shown
exactly (every digit the ledger holds), never as a float.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from llmtally.meter import decimal_text
from llmtally.web.http import Response
from llmtally.web.static import StaticFiles

__all__ = ["Renderer", "link", "ms", "number", "usd", "when"]

NONE = "—"


def usd(amount: Decimal | None) -> str:
    """``$0.0123`` exactly; a dash for no amount."""
    return NONE if amount is None else f"${decimal_text(amount)}"


def number(value: int | float | Decimal | None) -> str:
    if value is None:
        return NONE
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.1f}"


def ms(value: float | None) -> str:
    if value is None:
        return NONE
    return f"{value / 1000:,.2f} s" if value >= 1000 else f"{value:,.0f} ms"


def when(moment: dt.datetime | None) -> str:
    if moment is None:
        return NONE
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def link(path: str, params: Mapping[str, str | None] | None = None, **changes: str | None) -> str:
    """``path`` with the non-empty ``params`` (updated by ``changes``) as its query."""
    merged = {**(params or {}), **changes}
    query = urlencode({k: v for k, v in merged.items() if v is not None and v != ""})
    return f"{path}?{query}" if query else path


class Renderer:
    """Renders the package's templates into HTML responses."""

    def __init__(self, static: StaticFiles) -> None:
        self.env = Environment(
            loader=PackageLoader("llmtally.web", "templates"),
            autoescape=select_autoescape(default=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(usd=usd, number=number, ms=ms, when=when)
        self.env.globals.update(static=static.url, link=link)

    def page(self, template: str, status: int = 200, **context: Any) -> Response:
        html = self.env.get_template(template).render(**context)
        return Response(status, html.encode())
