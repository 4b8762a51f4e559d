"""``advise``: run the recommenders over a period and keep what pays.

Recommenders run in the order of ``RECOMMENDERS``; each candidate is priced on
the working copy (``llmtally.advisor.working``) on top of the changes kept before
it, so overlapping changes are never counted twice. A candidate whose monthly
saving is below the floor (or not positive) is reported as considered, not
recommended, and its change is not kept.

Fine-tuning and self-hosting come last (``fine_tune``, ``self_host``): each
replaces a model's API bill with another cost, so it is priced on the cheapest
API usage the others found (cached, batched, trimmed); self-hosting after
everything else, fine-tuning included, since its instances are compared with
whatever is still billed per token.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from llmtally.advisor.batch import batch_recommender
from llmtally.advisor.candidate import Candidate, Recommender
from llmtally.advisor.cap_output import cap_output_recommender
from llmtally.advisor.duplicates import duplicates_recommender
from llmtally.advisor.fine_tune import fine_tune_recommender
from llmtally.advisor.period import Period, load_period
from llmtally.advisor.prompt_cache import prompt_cache_recommender
from llmtally.advisor.realised import realised_savings
from llmtally.advisor.recommendation import Advice, Considered, Recommendation
from llmtally.advisor.right_size import right_size_recommender
from llmtally.advisor.samples import sample_ids
from llmtally.advisor.self_host import self_host_recommender
from llmtally.advisor.trim import trim_recommender
from llmtally.advisor.working import Working
from llmtally.catalog import Catalog
from llmtally.ledger import Store
from llmtally.money import usd

__all__ = ["DEFAULT_FLOOR", "RECOMMENDERS", "SAMPLE_IDS", "advise"]

DEFAULT_FLOOR = Decimal(1)
SAMPLE_IDS = 10
# In order: a response cache first (it removes calls), then changes to the calls
# still sent: prompt caching (advisor/prompt_cache.py) before batch, because the
# cache plan follows the calls' observed times, which real-time calls keep and a
# batch does not; batch is then priced on the cached usage (its discount applies
# to cache reads and writes too), so what waiting adds is shown on its own.
RECOMMENDERS: list[Recommender] = [
    duplicates_recommender,
    right_size_recommender,  # before caching and batch: see advisor/right_size.py
    prompt_cache_recommender,
    batch_recommender,
    trim_recommender,  # after caching and batch: see advisor/trim.py
    cap_output_recommender,
    fine_tune_recommender,  # last but one: see above
    self_host_recommender,  # last: see above
]


def _recommendation(found: Candidate, period_saving: Decimal, period: Period) -> Recommendation:
    samples = found.sample_ids[:SAMPLE_IDS]
    if not samples:
        asked = found.sampler() if found.sampler is not None else ()
        samples = asked[:SAMPLE_IDS] or sample_ids(period, found.where, SAMPLE_IDS)
    return Recommendation(
        kind=found.kind,
        title=found.title,
        where=found.where,
        evidence=found.evidence,
        calls=found.calls,
        period_saving=period_saving,
        monthly_saving=period_saving * period.to_month,
        assumptions=found.assumptions,
        confidence=found.confidence,
        how_to_apply=found.how_to_apply,
        call_ids=samples,
    )


def advise(
    store: Store,
    catalog: Catalog,
    since: dt.datetime,
    until: dt.datetime | None = None,
    floor: Decimal = DEFAULT_FLOOR,
    recommenders: list[Recommender] | None = None,
) -> Advice:
    """Recommendations over the whole UTC days of [since, until) (until: now),
    savings per 30 days."""
    end = until or dt.datetime.now(dt.UTC)
    period = load_period(store, since, end)
    working = Working(period.cells, catalog)
    kept: list[Recommendation] = []
    considered: list[Considered] = []
    for recommender in RECOMMENDERS if recommenders is None else recommenders:
        found = recommender(period, working)
        considered.extend(found.considered)
        for candidate in found.candidates:
            saving = working.saving(candidate.parts)
            monthly = saving * period.to_month
            if monthly <= 0 or monthly < floor:
                reason = f"saves {usd(monthly)}/month, below the floor of {usd(floor)}"
                considered.append(Considered(candidate.kind, candidate.where, reason, monthly))
                continue
            working.apply(candidate.parts)
            working.answered.update(candidate.answered_ids)
            kept.append(_recommendation(candidate, saving, period))
    kept.sort(key=lambda r: r.monthly_saving, reverse=True)
    realised = realised_savings(store, catalog, period.since, period.until)
    return Advice(
        period.since, period.until, floor, tuple(kept), tuple(considered), realised=realised
    )
