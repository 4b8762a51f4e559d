"""Webhooks: the JSON an alert is POSTed as, the POST itself, and the one rule for
showing a webhook URL without its secrets.

The body carries the alert's facts (money as exact decimal strings) and a
Slack-compatible ``text`` field, so a Slack (or Mattermost, Discord /slack,
Teams workflow) incoming webhook shows it as is. ``X-Llmtally-Alert`` holds the
alert id: a receiver can drop the rare second copy of one (a process that dies
between sending and recording its success leaves the attempt to be retried).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from llmtally.alerts.store import FiredAlert, Outcome

__all__ = ["SCHEMA", "Sender", "encode", "payload", "post_json", "redact_url", "scrub"]

SCHEMA = "llmtally.alert/1"
USER_AGENT = "llmtally-alerts/1"
_ERROR_CHARS = 300

Sender = Callable[[str, Mapping[str, str], bytes, float], Outcome]


def redact_url(url: str) -> str:
    """``url`` as it may be logged and stored: scheme, host, port and the first path
    segment only (no user, password, query or fragment; later path segments,
    where Slack and Discord keep their tokens, become ``...``)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "[unparseable URL]"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    segments = [s for s in parts.path.split("/") if s]
    path = f"/{segments[0]}" if segments else ""
    if len(segments) > 1:
        path += "/..."
    return f"{parts.scheme}://{host}{port}{path}"


def scrub(text: str, url: str) -> str:
    """``text`` (an error message) with ``url`` and its secret parts replaced."""
    shown = redact_url(url)
    out = text.replace(url, shown)
    try:
        parts = urlsplit(url)
    except ValueError:
        return out
    for secret in (parts.password, parts.username, parts.query, parts.fragment, parts.path):
        if secret and len(secret) > 1 and secret != "/":
            out = out.replace(secret, "[redacted]")
    return out


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else f"{amount.normalize():f}"


def _when(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat()


def payload(alert: FiredAlert) -> dict[str, Any]:
    """The JSON body of an alert's webhook."""
    return {
        "schema": SCHEMA,
        "id": alert.id,
        "rule": alert.rule,
        "kind": alert.kind,
        "scope": alert.scope,
        "threshold_percent": alert.level,
        "spend_usd": _money(alert.spend),
        "amount_usd": _money(alert.amount),
        "period": alert.period,
        "period_start": _when(alert.period_start),
        "period_end": _when(alert.period_end),
        "projected_usd": _money(alert.projected),
        "elapsed_share": _money(alert.elapsed),
        "usual_usd": _money(alert.baseline),
        "factor": _money(alert.factor),
        "cause": alert.cause,
        "fired_at": alert.fired_at.isoformat(),
        "text": alert.message,
    }


def post_json(url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> Outcome:
    """POST ``body`` to ``url``: ok on a 2xx answer. Errors name no part of the URL."""
    request = urllib.request.Request(url, data=body, method="POST")
    for name, value in {"content-type": "application/json", "user-agent": USER_AGENT}.items():
        request.add_header(name, value)
    for name, value in headers.items():
        request.add_header(name, value)
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status = int(response.status)
            response.read(65536)
    except urllib.error.HTTPError as exc:
        status = int(exc.code)
        exc.close()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        error = scrub(f"{type(exc).__name__}: {reason}", url)[:_ERROR_CHARS]
    elapsed = (time.perf_counter() - started) * 1000
    ok = status is not None and 200 <= status < 300
    if status is not None and not ok:
        error = f"HTTP {status}"
    return Outcome(ok, status, error, elapsed)


def encode(alert: FiredAlert) -> bytes:
    return json.dumps(payload(alert), ensure_ascii=False).encode()
