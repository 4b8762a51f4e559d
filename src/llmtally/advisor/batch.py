"""Batch what can wait: a feature's calls that no one watches stream in, sent
through the provider's batch API at its batch price.

A call can wait when it did not stream (``llmtally.advisor.cells``: no
``ttft_ms``) or when its caller tagged it
``batchable``. Calls already at a non-standard tier are left as they are. A
feature whose calls all stream is reported as considered, not recommended; a
model without a batch price likewise. The saving is the meter's standard cost
minus its batch cost of exactly those calls (``Working.saving``).
"""

from __future__ import annotations

from llmtally.advisor.candidate import Candidate, Found
from llmtally.advisor.cells import BATCHABLE_TAG, Cell
from llmtally.advisor.grouping import Key, by_feature_model, call_filter, where
from llmtally.advisor.period import Period
from llmtally.advisor.recommendation import Confidence, Considered
from llmtally.advisor.working import Working, to_tier

__all__ = ["BATCHABLE_TAG", "batch_recommender"]

KIND = "batch"

_OPENAI = """\
# Batch API, results within 24 h at the batch price:
# https://platform.openai.com/docs/guides/batch
lines = [{"custom_id": job.id, "method": "POST",
          "url": "/v1/chat/completions",
          "body": {"model": "MODEL", "messages": job.messages}}
         for job in jobs]
file = client.files.create(file=to_jsonl(lines), purpose="batch")
client.batches.create(input_file_id=file.id,
                      endpoint="/v1/chat/completions",
                      completion_window="24h",
                      metadata={"feature": "FEATURE"})"""
_ANTHROPIC = """\
# Message Batches API, results within 24 h at the batch price:
# https://docs.anthropic.com/en/docs/build-with-claude/batch-processing
client.messages.batches.create(requests=[
    {"custom_id": job.id,
     "params": {"model": "MODEL", "max_tokens": 1024,
                "messages": job.messages}}
    for job in jobs])"""
_OTHER = "Send FEATURE's requests through PROVIDER's batch API (model MODEL)."


def _how(key: Key) -> str:
    feature, provider, model = key
    text = {"openai": _OPENAI, "anthropic": _ANTHROPIC}.get(provider, _OTHER)
    return text.replace("FEATURE", feature).replace("PROVIDER", provider).replace("MODEL", model)


def _can_wait(cell: Cell) -> bool:
    return cell.batchable or not cell.streamed


def _has_batch_price(cells: list[Cell], working: Working) -> bool:
    cid = cells[0].id
    return working.price(cid, to_tier("batch")(working.state(cid))) is not None


def _confidence(cells: list[Cell]) -> Confidence:
    if all(cell.batchable for cell in cells):
        return Confidence("high", f"every call is tagged {BATCHABLE_TAG!r} by its caller")
    return Confidence(
        "medium",
        "the calls did not stream, but someone may still wait for a non-streamed "
        f"answer; tag them {BATCHABLE_TAG!r} to confirm",
    )


def _assumptions(streamed: int) -> tuple[str, ...]:
    said = [
        "the results can arrive up to 24 h later (the batch completion window)",
        "the same traffic as in the period, at the prices in force at each call",
    ]
    if streamed:
        said.append(f"{streamed:,} streamed calls of this feature stay as they are")
    return tuple(said)


def _group(key: Key, cells: list[Cell], period: Period, working: Working) -> Found:
    standard = [cell for cell in cells if cell.tier == "standard"]
    waiting = [cell for cell in standard if _can_wait(cell)]
    streamed = sum(cell.calls for cell in standard) - sum(cell.calls for cell in waiting)
    if not standard:
        return Found()
    if not waiting:
        reason = f"all {streamed:,} calls stream: someone is waiting for the answer"
        return Found(considered=[Considered(KIND, where(key), reason)])
    if not _has_batch_price(waiting, working):
        reason = f"{key[2]} has no batch price in the catalog"
        return Found(considered=[Considered(KIND, where(key), reason)])
    change = to_tier("batch")
    candidate = Candidate(
        kind=KIND,
        title="Batch the calls that can wait",
        where=where(key),
        evidence={**call_filter(key, period), "streamed": "no"},
        parts=tuple((cell.id, change) for cell in waiting),
        calls=sum(cell.calls for cell in waiting),
        assumptions=_assumptions(streamed),
        confidence=_confidence(waiting),
        how_to_apply=_how(key),
    )
    return Found(candidates=[candidate])


def batch_recommender(period: Period, working: Working) -> Found:
    """One candidate per (feature, model) with calls that can wait."""
    found = Found()
    for key, cells in sorted(by_feature_model(period.cells).items()):
        part = _group(key, cells, period, working)
        found.candidates.extend(part.candidates)
        found.considered.extend(part.considered)
    return found
