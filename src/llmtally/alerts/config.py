"""Alert rules and webhooks as configured: the ``alerts:`` table of the gateway
config file, and rules added with ``llmtally alerts add`` (stored in the ledger
in the same shape).

```yaml
alerts:
  interval_s: 60                  # how often ``llmtally serve`` evaluates
  webhooks:
    ops: {url_env: LLMTALLY_ALERTS_WEBHOOK}     # or url: https://...
  rules:                          # spend against an amount per period
    - name: chat-daily
      scope: {feature: chat}      # provider, model, user, feature, key, team, tag, fingerprint
      period: day                 # day | week | month (UTC) | total
      amount_usd: "50"
      thresholds: [50, 80, 100]   # percent of the amount
      pace: true                  # also warn when the period's rate so far overruns
    - name: search-budget         # a dollar budget's scope, amount and period
      budget: 01JB...             # its id in ``llmtally budgets list`` (or key:<key id>)
  anomalies:                      # the last hour against the same hour of past days
    - {name: spikes, factor: 3, floor_usd: "5", baseline_days: 7}
  reconcile:                      # the last days against the providers' own reports
    - {name: bill-check, days: 7, unrecorded_usd: "10", drift: true}
```

A rule's ``webhooks`` names the webhooks it goes to (all of them when left
out). A rule with ``budget`` takes the scope, amount and period from that
budget in the ledger (``alerts.budget_rules``), so it has none of its own.
Webhook URLs are secrets (Slack's and Discord's carry a token in their
path): they are read from the config or the environment and never logged or
stored; the ledger keeps only ``redact_url``'s form.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "DEFAULT_THRESHOLDS",
    "NAME_PATTERN",
    "PERIODS",
    "ReconcileRule",
    "SCOPE_FIELDS",
    "AlertsConfig",
    "AnomalyRule",
    "Delivery",
    "Period",
    "Rule",
    "Scope",
    "SpendRule",
    "Webhook",
]

Period = Literal["day", "week", "month", "total"]
PERIODS: tuple[Period, ...] = ("day", "week", "month", "total")
DEFAULT_THRESHOLDS = (50, 80, 100)
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
SCOPE_FIELDS = ("provider", "model", "user", "feature", "key", "team", "tag", "fingerprint")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scope(_Strict):
    """Which calls a rule counts: every attribute given must match (none: all calls).

    ``model`` is the model that answered (else the one asked for), also as
    ``provider/model``; ``key`` is a gateway key id; ``team`` the calls made
    with any key now in that team (``llmtally keys team``); ``fingerprint`` a
    system prompt's fingerprint.
    """

    provider: str | None = Field(default=None, min_length=1, max_length=500)
    model: str | None = Field(default=None, min_length=1, max_length=500)
    user: str | None = Field(default=None, min_length=1, max_length=500)
    feature: str | None = Field(default=None, min_length=1, max_length=500)
    key: str | None = Field(default=None, min_length=1, max_length=500)
    team: str | None = Field(default=None, min_length=1, max_length=500)
    tag: str | None = Field(default=None, min_length=1, max_length=500)
    fingerprint: str | None = Field(default=None, min_length=1, max_length=500)

    def items(self) -> dict[str, str]:
        """The attributes set, in SCOPE_FIELDS order."""
        found = {name: getattr(self, name) for name in SCOPE_FIELDS}
        return {name: value for name, value in found.items() if value is not None}

    def describe(self) -> str:
        """``feature=chat, user=alice``, or ``all calls``."""
        return ", ".join(f"{k}={v}" for k, v in self.items().items()) or "all calls"


class Webhook(_Strict):
    """Where alerts are POSTed: ``url``, or ``url_env`` naming a variable that holds it."""

    url: str | None = Field(default=None, pattern=r"^https?://")
    url_env: str | None = Field(default=None, min_length=1)
    headers: dict[str, str] = {}

    @model_validator(mode="after")
    def _one_source(self) -> Webhook:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url and url_env")
        return self

    def resolve(self, environ: Mapping[str, str] = os.environ) -> str | None:
        """The URL, or None when ``url_env`` is unset or not an http(s) URL."""
        url = self.url if self.url is not None else environ.get(self.url_env or "")
        if not url or not url.startswith(("http://", "https://")):
            return None
        return url


class _Rule(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    scope: Scope = Scope()
    webhooks: list[str] | None = None  # None: every configured webhook


class SpendRule(_Rule):
    """Spend in a period against an amount: one alert per threshold crossed per
    period, and one when the period's rate so far projects past the amount.

    Either ``period`` and ``amount_usd`` (and any ``scope``), or ``budget``: a
    dollar budget's id, whose scope, amount and period the rule takes when it
    is evaluated (``alerts.budget_rules.with_budgets``)."""

    kind: Literal["spend"] = "spend"
    period: Period | None = None
    amount_usd: Decimal | None = Field(default=None, gt=0, le=Decimal("1e9"))
    budget: str | None = Field(default=None, min_length=1, max_length=200)
    thresholds: list[int] = Field(default=list(DEFAULT_THRESHOLDS), min_length=1)
    pace: bool = True
    # "On pace" is judged only once this share of the period has passed.
    pace_min_elapsed: float = Field(default=0.25, gt=0, lt=1)
    # Filled by alerts.budget_rules from a budget given in another currency (never
    # from the file): the alert's money in that currency at the budget's rate.
    shown_currency: str | None = Field(default=None, exclude=True)
    shown_rate: Decimal | None = Field(default=None, exclude=True)
    shown_rate_note: str | None = Field(default=None, exclude=True)

    @field_validator("thresholds")
    @classmethod
    def _percentages(cls, value: list[int]) -> list[int]:
        for level in value:
            if not 1 <= level <= 1000:
                raise ValueError(f"threshold {level}: a percentage from 1 to 1000")
        return sorted(set(value))

    @model_validator(mode="after")
    def _limit_or_budget(self) -> SpendRule:
        filled = ("shown_currency", "shown_rate", "shown_rate_note")
        if any(getattr(self, name) is not None for name in filled):
            raise ValueError("shown_currency and shown_rate come from the budget, not the file")
        if self.budget is None:
            missing = [name for name in ("period", "amount_usd") if getattr(self, name) is None]
            if missing:
                raise ValueError(f"give {' and '.join(missing)}, or a budget's id as budget")
            return self
        given = [name for name in ("period", "amount_usd") if getattr(self, name) is not None]
        given += ["scope"] if self.scope.items() else []
        if given:
            raise ValueError(
                f"a rule on budget {self.budget!r} takes its scope, amount and period from "
                f"the budget: leave out {', '.join(given)}"
            )
        return self

    def limit(self) -> tuple[Period, Decimal]:
        """The period and amount (a budget rule's once ``with_budgets`` filled them)."""
        if self.period is None or self.amount_usd is None:
            raise ValueError(f"alert rule {self.name!r}: budget {self.budget!r} is not looked up")
        return self.period, self.amount_usd


class AnomalyRule(_Rule):
    """The last hour's spend against the mean of the same hour on the previous
    ``baseline_days`` days: an alert when it is above ``factor`` times that mean
    and at least ``floor_usd``, naming what grew most."""

    kind: Literal["anomaly"] = "anomaly"
    factor: Decimal = Field(default=Decimal(3), gt=1, le=1000)
    floor_usd: Decimal = Field(default=Decimal(1), ge=0, le=Decimal("1e9"))
    baseline_days: int = Field(default=7, ge=1, le=28)


class ReconcileRule(_Rule):
    """What reconciling the last ``days`` full UTC days with the providers' reports
    (``llmtally reconcile``) shows: an alert when the unrecorded spend (usage the
    providers billed that no capture path recorded) passes ``unrecorded_usd``,
    and one per model whose bill shows a price the catalog lacks (``drift``).
    The scope is not used: reconciliation covers every call."""

    kind: Literal["reconcile"] = "reconcile"
    days: int = Field(default=7, ge=1, le=92)
    unrecorded_usd: Decimal | None = Field(default=None, ge=0, le=Decimal("1e9"))
    drift: bool = True

    @model_validator(mode="after")
    def _something_to_watch(self) -> ReconcileRule:
        if self.unrecorded_usd is None and not self.drift:
            raise ValueError("give unrecorded_usd, or leave drift on: nothing to watch")
        if self.scope.items():
            raise ValueError("a reconcile rule covers every call: leave out scope")
        return self


Rule = SpendRule | AnomalyRule | ReconcileRule


class Delivery(_Strict):
    """Webhook delivery: a POST times out after ``timeout_s``; a failed one is
    tried again after backoff_s, 2x, 4x ... (at most backoff_max_s), up to
    ``max_attempts`` tries in all."""

    timeout_s: float = Field(default=10.0, gt=0, le=120)
    max_attempts: int = Field(default=6, ge=1, le=20)
    backoff_s: float = Field(default=2.0, gt=0)
    backoff_max_s: float = Field(default=300.0, gt=0)


class AlertsConfig(_Strict):
    interval_s: float = Field(default=60.0, ge=0.05)
    webhooks: dict[str, Webhook] = {}
    rules: list[SpendRule] = []
    anomalies: list[AnomalyRule] = []
    reconcile: list[ReconcileRule] = []  # ledger against the providers' bills
    delivery: Delivery = Delivery()

    @field_validator("webhooks")
    @classmethod
    def _webhook_names(cls, value: dict[str, Webhook]) -> dict[str, Webhook]:
        for name in value:
            if not _is_name(name):
                raise ValueError(f"webhook name {name!r}: letters, digits, '.', '_', '-'")
        return value

    @model_validator(mode="after")
    def _names(self) -> AlertsConfig:
        seen: set[str] = set()
        for rule in self.all_rules():
            if rule.name in seen:
                raise ValueError(f"two alert rules are named {rule.name!r}")
            seen.add(rule.name)
            for hook in rule.webhooks or []:
                if hook not in self.webhooks:
                    known = ", ".join(sorted(self.webhooks)) or "none"
                    raise ValueError(
                        f"rule {rule.name!r}: webhook {hook!r} is not configured (known: {known})"
                    )
        return self

    def all_rules(self) -> list[Rule]:
        return [*self.rules, *self.anomalies, *self.reconcile]


def _is_name(text: str) -> bool:
    return re.match(NAME_PATTERN, text) is not None
