"""Realised savings (issue 15): what a change that was applied has saved, measured
on the calls before and after it.

A change is known two ways: *marked* by a person (``llmtally advise applied``,
``llmtally.advisor.applied``), or *detected* in the period (a feature whose calls
moved to another model, or from the standard tier to batch / flex:
``llmtally.advisor.switches``). Each kind is measured the way that is exact for
it, and ``Realised.method`` says which:

- a model or tier change: the calls after it re-priced with the meter as they
  would have been billed before (the old model / tier, at the catalog's price in
  force at each call), minus what they cost (``llmtally.advisor.repricing``);
- prompt caching: the ledger's per-call ``saved_cache`` summed over the calls
  after (each cached token priced as plain input, minus what was paid);
- duplicates (a response cache removes calls): spend per day before minus spend
  per day after, times the days after;
- any other kind: cost per call before minus cost per call after, times the
  calls after.

The after span runs from the change (or ``since``, if it is older) to ``until``;
for a marked change the before span is as long, just before it; for a detected
one it is the period before the switch. ``monthly_saving`` scales the saving to
30 days of the after span. A negative saving (the change cost more) is kept.
Everything is sums in SQL (``llmtally.advisor.realised_sql``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, cast

from llmtally.advisor.applied import Applied, list_applied
from llmtally.advisor.period import MONTH_DAYS
from llmtally.advisor.realised_sql import Scope, Totals, busiest, daily_mix, totals, usage_groups
from llmtally.advisor.repricing import Repriced, price_facts, reprice
from llmtally.advisor.switches import Setting, Switch, switches
from llmtally.catalog import Catalog
from llmtally.ledger import Store
from llmtally.usage import ServiceTier, model_label

if TYPE_CHECKING:
    from llmtally.advisor.recommendation import Advice

__all__ = ["Realised", "realised_savings", "with_realised"]

HowKnown = Literal["marked", "detected"]
_DAY = Decimal(86400)


@dataclass(frozen=True, slots=True)
class Realised:
    """What one applied change saved: ``period_saving`` over the after span,
    ``monthly_saving`` that scaled to 30 days; costs per call as recorded
    (None: no priced call on that side). Amounts are exact Decimals."""

    kind: str
    where: dict[str, str]
    applied_at: dt.datetime
    how_known: HowKnown
    calls_before: int
    calls_after: int
    cost_per_call_before: Decimal | None
    cost_per_call_after: Decimal | None
    period_saving: Decimal
    monthly_saving: Decimal
    method: str
    note: str | None = None


def _seconds(start: dt.datetime, end: dt.datetime) -> Decimal:
    return Decimal(int((end - start).total_seconds()))


def _monthly(saving: Decimal, start: dt.datetime, end: dt.datetime) -> Decimal:
    span = _seconds(start, end)
    return Decimal(0) if span <= 0 else saving * MONTH_DAYS * _DAY / span


def _label(setting: Setting) -> str:
    provider, model, tier = setting
    named = model_label(provider, model)
    return named if tier == "standard" else f"{named} ({tier})"


def _unpriced(found: Repriced, target: str) -> str | None:
    if not found.unpriced:
        return None
    return f"{found.unpriced:,} calls after could not be priced at {target}; left out"


def _detected(
    store: Store, catalog: Catalog, switch: Switch, since: dt.datetime, until: dt.datetime
) -> Realised:
    start = dt.datetime.combine(switch.day, dt.time(0), dt.UTC)
    old_p, old_m, old_t = switch.old
    new_p, new_m, new_t = switch.new
    before = totals(store, Scope(switch.feature, since, start, old_p, old_m, (old_t,)))
    after_scope = Scope(switch.feature, start, until, new_p, new_m, (new_t,))
    edges, thresholds = price_facts(catalog, [(old_p, old_m)])
    tier = cast("ServiceTier", old_t)
    found = reprice(
        usage_groups(store, after_scope, edges, thresholds),
        catalog,
        lambda group: (old_p, old_m, tier),
        edges,
    )
    was = f"{model_label(old_p, old_m)} at the {old_t} tier"
    method = (
        f"the {found.calls:,} calls on {_label(switch.new)} from {switch.day} re-priced "
        f"with the meter as {was} (its prices in force at each call), minus what they cost"
    )
    if switch.kind == "right_size":
        method += " (the same tokens assumed)"
    where = {
        "feature": switch.feature,
        "provider": new_p,
        "model": new_m,
        "from": _label(switch.old),
        "to": _label(switch.new),
    }
    return Realised(
        kind=switch.kind,
        where=where,
        applied_at=start,
        how_known="detected",
        calls_before=before.priced,
        calls_after=found.calls,
        cost_per_call_before=before.per_call,
        cost_per_call_after=None if not found.calls else found.actual / found.calls,
        period_saving=found.saving,
        monthly_saving=_monthly(found.saving, start, until),
        method=method,
        note=_unpriced(found, _label(switch.old)),
    )


@dataclass(frozen=True, slots=True)
class _Spans:
    mark: Applied
    before: Scope
    after: Scope

    @property
    def after_days(self) -> Decimal:
        return _seconds(self.after.start, self.after.end) / _DAY


def _spans(mark: Applied, since: dt.datetime, until: dt.datetime) -> _Spans:
    start = max(mark.applied_at, since)
    length = until - start
    before = Scope(mark.feature, mark.applied_at - length, mark.applied_at, model=mark.model)
    return _Spans(mark, before, Scope(mark.feature, start, until, model=mark.model))


def _counterfactual(
    store: Store, catalog: Catalog, spans: _Spans
) -> tuple[Decimal, int, str, str | None] | None:
    """(saving, calls, method, note) re-pricing the after calls on the setting
    before: for ``batch``, their own model at the standard tier; for
    ``right_size``, the model most calls used before. None: nothing to re-price."""
    mark = spans.mark
    if mark.kind == "batch":
        scope = replace(spans.after, tiers=("batch", "flex"))
        groups = usage_groups(store, scope, [], [])
        models = {(g.provider, g.model) for g in groups}
        edges, thresholds = price_facts(catalog, models)
        found = reprice(
            usage_groups(store, scope, edges, thresholds),
            catalog,
            lambda group: (group.provider, group.model, "standard"),
            edges,
        )
        method = (
            f"the {found.calls:,} batch / flex calls after re-priced with the meter at "
            "the standard tier's prices in force at each call, minus what they cost"
        )
        return found.saving, found.calls, method, _unpriced(found, "the standard tier")
    old = busiest(store, spans.before)
    if old is None:
        return None
    provider, model = old
    edges, thresholds = price_facts(catalog, [old])
    groups = [
        g
        for g in usage_groups(store, spans.after, edges, thresholds)
        if (g.provider, g.model) != old
    ]
    found = reprice(groups, catalog, lambda g: (provider, model, g.tier), edges)
    label = model_label(provider, model)
    method = (
        f"the {found.calls:,} calls after not on {label} re-priced with the meter at "
        f"{label}'s prices in force at each call (the model most calls used before), "
        "minus what they cost (the same tokens assumed)"
    )
    return found.saving, found.calls, method, _unpriced(found, label)


def _compared(spans: _Spans, before: Totals, after: Totals) -> tuple[Decimal, str, str | None]:
    """(saving, method, note) comparing the two spans' recorded costs."""
    kind = spans.mark.kind
    if before.per_call is None or after.per_call is None:
        side = "before" if before.per_call is None else "after"
        return Decimal(0), "nothing to compare", f"no priced calls {side} the change in the ledger"
    if kind == "duplicates":
        saving = before.cost - after.cost  # the two spans are equally long
        method = (
            "spend per day before minus spend per day after, times the "
            f"{spans.after_days.normalize():f} days after (a response cache removes calls, "
            "so it shows in the spend, not the cost of a call)"
        )
        return saving, method, None
    if kind == "prompt_cache":
        method = (
            f"what prompt caching saved on the {after.priced:,} calls after (the ledger's "
            "saved_cache per call: each cached token priced as plain input, minus what was paid)"
        )
        return after.saved_cache, method, None
    saving = before.cost * after.priced / before.priced - after.cost
    method = (
        f"cost per call before minus cost per call after, times the {after.priced:,} calls after"
    )
    return saving, method, None


def _marked(store: Store, catalog: Catalog, spans: _Spans, until: dt.datetime) -> Realised:
    mark = spans.mark
    before, after = totals(store, spans.before), totals(store, spans.after)
    saving, method, note = _compared(spans, before, after)
    calls_after = after.priced
    if mark.kind in ("batch", "right_size") and after.priced:
        found = _counterfactual(store, catalog, spans)
        if found is not None:
            saving, _, method, note = found
    if not after.calls:
        note = "no calls since it was applied yet"
    where = {"feature": mark.feature, **({"model": mark.model} if mark.model else {})}
    where["mark"] = mark.id
    if mark.note:
        note = mark.note if note is None else f"{mark.note}; {note}"
    return Realised(
        kind=mark.kind,
        where=where,
        applied_at=mark.applied_at,
        how_known="marked",
        calls_before=before.priced,
        calls_after=calls_after,
        cost_per_call_before=before.per_call,
        cost_per_call_after=after.per_call,
        period_saving=saving,
        monthly_saving=_monthly(saving, spans.after.start, until),
        method=method,
        note=note,
    )


def realised_savings(
    store: Store, catalog: Catalog, since: dt.datetime, until: dt.datetime
) -> tuple[Realised, ...]:
    """The saving of each change applied before ``until`` whose after span meets
    ``[since, until)``: every mark, and each switch detected in the period that
    no mark of the same kind and feature already names; the most saving first."""
    if since.tzinfo is None or until.tzinfo is None or until <= since:
        raise ValueError("the period needs timezone-aware since < until")
    marks = [m for m in list_applied(store) if m.applied_at < until]
    found = [_marked(store, catalog, _spans(m, since, until), until) for m in marks]
    named = {(m.kind, m.feature) for m in marks}
    for switch in switches(daily_mix(store, since, until)):
        if (switch.kind, switch.feature) not in named:
            found.append(_detected(store, catalog, switch, since, until))
    found.sort(key=lambda r: (-r.monthly_saving, r.applied_at))
    return tuple(found)


def with_realised(store: Store, catalog: Catalog, advice: Advice) -> Advice:
    """``advice`` with its realised savings measured, unless it has them already."""
    if advice.realised:
        return advice
    found = realised_savings(store, catalog, advice.since, advice.until)
    return replace(advice, realised=found) if found else advice
