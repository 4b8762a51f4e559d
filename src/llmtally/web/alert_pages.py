"""The dashboard's Alerts page (``/alerts``): every rule with where its spend
stands now, the alerts fired (newest first) with each webhook's delivery, and
the webhooks as they may be shown (no URL secrets).

Like every page, the handler runs on the dashboard's worker threads and reads
the ledger through ``llmtally.alerts``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass

from llmtally.alerts.config import AlertsConfig
from llmtally.alerts.deliver import target_of
from llmtally.alerts.describe import (
    alert_summary,
    cause_summary,
    delivery_summary,
    rule_summary,
    scope_summary,
    status_summary,
)
from llmtally.alerts.status import rule_statuses
from llmtally.alerts.store import AlertStore
from llmtally.ledger.store import Store
from llmtally.web.http import HTTPError, Request, Response
from llmtally.web.render import Renderer

__all__ = ["SHOWN", "AlertPages"]

SHOWN = 200  # alerts listed, newest first


@dataclass(frozen=True, slots=True)
class AlertPages:
    """``/alerts`` over one ledger and the gateway's alert settings."""

    store: Store
    render: Renderer
    now: Callable[[], dt.datetime]
    config: AlertsConfig

    def route(self, request: Request) -> Response | None:
        """The page for ``/alerts``; None for any other path."""
        return self.page(request) if request.path == "/alerts" else None

    def page(self, request: Request) -> Response:
        if request.query:
            names = ", ".join(sorted(request.query))
            raise HTTPError(400, f"unknown parameter {names}; this page takes none")
        statuses = rule_statuses(self.store, self.config, self.now())
        fired = AlertStore(self.store).fired(limit=SHOWN)
        hooks = {name: target_of(self.config, name, os.environ) for name in self.config.webhooks}
        return self.render.page(
            "alerts.html",
            page="alerts",
            statuses=statuses,
            fired=fired,
            webhooks=hooks,
            shown=SHOWN,
            interval=self.config.interval_s,
            rule_summary=rule_summary,
            scope_summary=scope_summary,
            status_summary=status_summary,
            alert_summary=alert_summary,
            cause_summary=cause_summary,
            delivery_summary=delivery_summary,
        )
