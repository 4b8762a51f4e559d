"""Delivering alerts: every due delivery is claimed, POSTed and recorded.

A failed POST (no answer, a timeout, a status other than 2xx) is tried again
after ``backoff_s``, then twice that, and so on up to ``backoff_max_s``, until
``max_attempts`` tries have failed: then the delivery is ``failed``. The retry
time is stored in the ledger, so a restarted gateway (or another one) picks it
up; the attempt in flight is leased for twice the timeout plus 5 s, after
which a process that died while sending is taken over.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from llmtally.alerts.config import AlertsConfig, Delivery
from llmtally.alerts.store import AlertStore, Due, Outcome
from llmtally.alerts.webhooks import Sender, encode, post_json, redact_url, scrub

__all__ = ["Deliverer", "Sent", "backoff_s", "lease_s", "target_of"]

log = logging.getLogger(__name__)


def backoff_s(attempt: int, delivery: Delivery) -> float:
    """The wait after failed attempt number ``attempt`` (1-based)."""
    return float(min(delivery.backoff_s * 2 ** (attempt - 1), delivery.backoff_max_s))


def lease_s(delivery: Delivery) -> float:
    return 2 * delivery.timeout_s + 5


def target_of(config: AlertsConfig, name: str, environ: Mapping[str, str]) -> str:
    """A webhook as it may be shown and stored: its URL without secrets, or why
    there is none."""
    hook = config.webhooks.get(name)
    if hook is None:
        return "(not configured)"
    url = hook.resolve(environ)
    if url is None:
        return f"(${hook.url_env} is not set to an http(s) URL)"
    return redact_url(url)


@dataclass(frozen=True, slots=True)
class Sent:
    """One attempt made: the delivery as it was due, and what came of it."""

    due: Due
    outcome: Outcome
    final: bool  # delivered, or failed for good


class Deliverer:
    """Sends the due deliveries of one ledger with the webhooks of ``config``."""

    def __init__(
        self,
        alerts: AlertStore,
        config: AlertsConfig,
        clock: Callable[[], dt.datetime],
        sender: Sender = post_json,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.alerts, self.config, self.clock = alerts, config, clock
        self.sender, self.environ = sender, environ

    def run_due(self) -> list[Sent]:
        """Try every delivery due now (each claimed first: one sender per attempt)."""
        delivery = self.config.delivery
        done: list[Sent] = []
        for due in self.alerts.due(self.clock()):
            started = self.clock()
            lease = started + dt.timedelta(seconds=lease_s(delivery))
            if not self.alerts.take(due, started, lease):
                continue  # another evaluator has it
            outcome = self._send(due)
            attempt = due.attempts + 1
            last = outcome.ok or attempt >= delivery.max_attempts
            retry = None
            if not last:
                retry = self.clock() + dt.timedelta(seconds=backoff_s(attempt, delivery))
            self.alerts.finish(due, started, outcome, retry)
            self._log(due, outcome, attempt, retry)
            done.append(Sent(due, outcome, last))
        return done

    def _send(self, due: Due) -> Outcome:
        hook = self.config.webhooks.get(due.webhook)
        url = None if hook is None else hook.resolve(self.environ)
        alert = self.alerts.get(due.alert_id)
        if hook is None or url is None or alert is None:
            why = target_of(self.config, due.webhook, self.environ)
            return Outcome(False, None, f"webhook {due.webhook!r}: {why}", 0.0)
        headers = {**hook.headers, "x-llmtally-alert": alert.id}
        outcome = self.sender(url, headers, encode(alert), self.config.delivery.timeout_s)
        if outcome.error is not None:  # a sender's error text never carries the URL
            error = scrub(outcome.error, url)
            return Outcome(outcome.ok, outcome.status, error, outcome.duration_ms)
        return outcome

    def _log(self, due: Due, outcome: Outcome, attempt: int, retry: dt.datetime | None) -> None:
        target = target_of(self.config, due.webhook, self.environ)
        if outcome.ok:
            log.info("alert %s delivered to webhook %r (%s)", due.alert_id, due.webhook, target)
            return
        then = "retrying at " + retry.isoformat(timespec="seconds") if retry else "giving up"
        log.warning(
            "alert %s: webhook %r (%s) attempt %d failed: %s; %s",
            due.alert_id,
            due.webhook,
            target,
            attempt,
            outcome.error,
            then,
        )
