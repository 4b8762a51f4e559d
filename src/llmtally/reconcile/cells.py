"""The two sides of a reconciliation, cell by cell: day x provider x model.

A :class:`Cell` holds what the ledger recorded (calls that succeeded, and the
failed ones apart, with their ids) beside what the provider reported (usage by
API key / project, and the billed amount where the cost lines name a model).
Each figure a reconciliation shows is defined here once, as a property
(``ledger_cost``, ``matched_failed``, ``unmatched``), so the explainers, the
views and the command line never compute one twice in different ways.

Token kinds are those both sides share: uncached input, cache reads, 5-minute
and 1-hour cache writes, output. The ledger's ``input_tokens`` includes cache
reads and writes, so its uncached input is ``input - cache_read - cache_write``
and its 5m writes ``cache_write - cache_write_1h`` (llmtally.usage). Requests
are shown but never compared: Anthropic's usage report has no request count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Any

from llmtally.usage import Usage

__all__ = ["TOKEN_KINDS", "Cell", "FailedCall", "Tokens", "Where"]

TOKEN_KINDS = ("uncached_input", "cache_read", "cache_write_5m", "cache_write_1h", "output")
_ZERO = Decimal(0)
Where = tuple[str | None, str | None]  # (API key id, project / workspace id)


@dataclass(frozen=True, slots=True)
class Tokens:
    """Requests and each token kind of some traffic."""

    requests: int = 0
    uncached_input: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    output: int = 0

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def __sub__(self, other: Tokens) -> Tokens:
        return Tokens(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))

    def positive(self) -> Tokens:
        """Each count below zero made zero (what one side has beyond the other)."""
        return Tokens(*(max(getattr(self, f.name), 0) for f in fields(self)))

    def covers(self, other: Tokens) -> bool:
        """Whether every token kind here is at least ``other``'s (requests aside)."""
        return all(getattr(self, k) >= getattr(other, k) for k in TOKEN_KINDS)

    @property
    def total(self) -> int:
        """Every token, of every kind."""
        return sum(getattr(self, k) for k in TOKEN_KINDS)

    def usage(self) -> Usage:
        """These tokens as one :class:`Usage` (standard tier), to be priced by the meter."""
        writes = self.cache_write_5m + self.cache_write_1h
        return Usage(
            input_tokens=self.uncached_input + self.cache_read + writes,
            cache_read_tokens=self.cache_read,
            cache_write_tokens=writes,
            cache_write_1h_tokens=self.cache_write_1h,
            output_tokens=self.output,
            requests=0,
        )

    def to_json(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _pool_writes(beyond: Tokens) -> Tokens:
    """``beyond`` (reported - recorded) with cache writes one side has as 1h and the
    other as 5m netted out: the same writes at another lifetime are a cache
    mismatch (a price explainer's), not usage the ledger lacks."""
    moved = min(max(beyond.cache_write_1h, 0), max(-beyond.cache_write_5m, 0))
    moved -= min(max(beyond.cache_write_5m, 0), max(-beyond.cache_write_1h, 0))
    return replace(
        beyond,
        cache_write_1h=beyond.cache_write_1h - moved,
        cache_write_5m=beyond.cache_write_5m + moved,
    )


@dataclass(frozen=True, slots=True)
class FailedCall:
    """A call the ledger recorded with an error status (>= 400)."""

    id: str
    status: int
    kind: str  # "failed", or "cut stream" (a stream cut or left, priced by estimate)
    tokens: Tokens
    cost: Decimal | None
    tier: str = "standard"  # the service tier the ledger priced it at


@dataclass
class Cell:
    """One day x provider x model: the ledger's side and the provider's."""

    day: dt.date
    provider: str
    model: str  # the catalog's id, or the name as given when the catalog lacks it
    ok: Tokens = Tokens()  # calls that succeeded (status < 400)
    ok_cost: Decimal = _ZERO
    unpriced: int = 0  # succeeded calls the ledger could not price (no cost)
    failed: list[FailedCall] = field(default_factory=list)
    usage: dict[Where, Tokens] = field(default_factory=dict)
    billed: Decimal | None = None  # cost lines that name this model
    # For the price explainers (llmtally.reconcile.price_link): the succeeded calls
    # by the service tier the ledger priced them at, the provider's usage by the
    # tier it reports (standard / batch / flex / priority, else its own word), and
    # the billed amount by token kind where the cost lines say (explain_types.line_kind).
    ok_tiers: dict[str, Tokens] = field(default_factory=dict)
    usage_tiers: dict[str, Tokens] = field(default_factory=dict)
    billed_lines: dict[str, Decimal] = field(default_factory=dict)

    @property
    def reported(self) -> Tokens:
        """The provider's usage of this cell, every key and project together."""
        total = Tokens()
        for tokens in self.usage.values():
            total += tokens
        return total

    @property
    def has_usage(self) -> bool:
        return bool(self.usage)

    @property
    def failed_tokens(self) -> Tokens:
        total = Tokens()
        for call in self.failed:
            total += call.tokens
        return total

    @property
    def failed_cost(self) -> Decimal:
        return sum((c.cost or _ZERO for c in self.failed), _ZERO)

    @property
    def ledger_cost(self) -> Decimal:
        """Every call's cost, failed ones included: what the ledger says was spent."""
        return self.ok_cost + self.failed_cost

    @property
    def ledger_tokens(self) -> Tokens:
        return self.ok + self.failed_tokens

    def bypass(self) -> tuple[list[tuple[Where, Tokens]], Tokens]:
        """The provider's usage beyond the succeeded calls, split: the keys /
        projects whose whole usage in the cell fits in it (the largest first:
        traffic that bypassed every capture path), and the rest, from keys that
        also carried recorded calls (the ledger does not know the provider's
        key ids, so that rest cannot be split further)."""
        left = _pool_writes(self.reported - self.ok).positive()
        found: list[tuple[Where, Tokens]] = []
        for where, tokens in sorted(self.usage.items(), key=lambda kv: (-kv[1].total, str(kv[0]))):
            if tokens.total and left.covers(tokens):
                found.append((where, tokens))
                left = (left - tokens).positive()
        return found, left

    @property
    def matched_failed(self) -> bool:
        """Whether the provider billed the failed calls: the usage beyond the
        succeeded calls, less the keys that bypassed, covers every failed token
        kind. Otherwise the failed calls are taken as not billed."""
        failed = self.failed_tokens
        if failed.total == 0 or not self.has_usage:
            return False
        return self.bypass()[1].covers(failed)

    def unmatched(self) -> list[tuple[Where | None, Tokens]]:
        """Provider usage the ledger has no call for: per bypassing key / project,
        and (``None``) the rest from keys that also carried recorded calls."""
        keys, rest = self.bypass()
        if self.matched_failed:
            rest = (rest - self.failed_tokens).positive()
        found: list[tuple[Where | None, Tokens]] = list(keys)
        if rest.total:
            found.append((None, rest))
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "provider": self.provider,
            "model": self.model,
            "ledger": self.ok.to_json(),
            "ledger_failed": self.failed_tokens.to_json(),
            "failed_calls": len(self.failed),
            "unpriced_calls": self.unpriced,
            "provider_usage": self.reported.to_json() if self.has_usage else None,
        }
