"""What ``advise verify`` replays: a feature's calls in a period, and an evenly
spread sample of those with whole stored bodies, each as the lab's prompt form
(one optional system text and one user text) with its recorded answer.

The sample is deterministic: of the M calls with a whole stored request and
response (oldest first, ties by id), the n picked are those at positions
``floor((2i + 1) M / 2n)`` for i = 0..n-1, the middles of n equal slices of the
period's traffic. A picked call whose body the lab cannot replay (several turns,
images, tools, another endpoint than a chat one) is skipped, with its reason
counted, rather than replaced, so the same ledger and options give the same sample.

Request shapes: OpenAI Chat Completions (``messages``), Anthropic Messages
(``system`` + ``messages``) and Gemini ``generateContent`` (``systemInstruction``
+ ``contents``). The recorded answer is the response body's visible text, a JSON
body or a stored SSE stream alike (:func:`llmtally.estimate.bodies.response_text`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select

from llmtally.estimate.bodies import response_text, wire_of
from llmtally.ledger import Store
from llmtally.ledger.rows import row_to_call
from llmtally.ledger.schema import call_bodies, calls
from llmtally.usage import Call

__all__ = [
    "Replay",
    "Sample",
    "Unreplayable",
    "feature_calls",
    "known_features",
    "prompt_of",
    "read_sample",
    "spread",
]

MULTI_TURN = "several turns (the lab replays one system and one user turn)"
NOT_TEXT = "content that is not text (an image, audio or a file)"
TOOLS = "tools offered to the model (the lab replays text only)"
NO_ANSWER = "no readable recorded answer in the stored response"
NOT_CHAT = "not a chat request (OpenAI chat, Anthropic messages or Gemini generateContent)"


class Unreplayable(ValueError):
    """A stored body the lab cannot replay; the message is the counted reason."""


@dataclass(frozen=True, slots=True)
class Replay:
    """One sampled call in the lab's prompt form, with its recorded answer."""

    call_id: str
    system: str | None
    user: str
    recorded: str
    temperature: float | None  # what the recorded request asked for
    output_tokens: int  # of the recorded answer, as billed


@dataclass(frozen=True, slots=True)
class Sample:
    """The period's calls of the feature and the sample taken from them."""

    calls: int  # the feature's successful calls in the period
    with_bodies: int  # of them, with a whole stored request and response
    picked: int  # sampled (before skipping those that cannot be replayed)
    replays: tuple[Replay, ...]
    skipped: Mapping[str, int] = field(default_factory=dict)  # reason -> calls


def _in_period(feature: str, since: dt.datetime, until: dt.datetime) -> Any:
    return and_(
        calls.c.feature == feature,
        calls.c.started_at >= since.astimezone(dt.UTC),
        calls.c.started_at < until.astimezone(dt.UTC),
        calls.c.status >= 200,
        calls.c.status < 300,
    )


def feature_calls(
    store: Store, feature: str, since: dt.datetime, until: dt.datetime, page: int = 5_000
) -> Iterator[Call]:
    """The feature's successful calls started in [since, until), oldest first, read
    ``page`` rows at a time (a server-side cursor on PostgreSQL): one pass, whatever
    the period's size, holds one page."""
    query = (
        select(calls)
        .where(_in_period(feature, since, until))
        .order_by(calls.c.started_at, calls.c.id)
    )
    with store.engine.connect().execution_options(yield_per=page) as conn:
        for row in conn.execute(query).mappings():
            yield row_to_call(row)


def _count(store: Store, feature: str, since: dt.datetime, until: dt.datetime) -> int:
    query = select(func.count()).select_from(calls).where(_in_period(feature, since, until))
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def known_features(store: Store, since: dt.datetime, until: dt.datetime) -> list[str]:
    """The features with successful calls in the period (for an error message)."""
    query = (
        select(calls.c.feature, func.count())
        .where(calls.c.started_at >= since.astimezone(dt.UTC))
        .where(calls.c.started_at < until.astimezone(dt.UTC))
        .where(calls.c.feature.is_not(None))
        .group_by(calls.c.feature)
        .order_by(func.count().desc(), calls.c.feature)
        .limit(12)
    )
    with store.engine.connect() as conn:
        return [str(row[0]) for row in conn.execute(query)]


def spread(total: int, size: int) -> list[int]:
    """``size`` positions evenly spread over ``total`` (all of them when fewer)."""
    if total <= size:
        return list(range(total))
    return [(2 * i + 1) * total // (2 * size) for i in range(size)]


def _whole_bodies(feature: str, since: dt.datetime, until: dt.datetime) -> Any:
    return (
        select(calls.c.id)
        .join(call_bodies, call_bodies.c.call_id == calls.c.id)
        .where(_in_period(feature, since, until))
        .where(call_bodies.c.request_body.is_not(None))
        .where(call_bodies.c.request_truncated.is_(False))
        .where(call_bodies.c.response_body.is_not(None))
        .where(call_bodies.c.response_truncated.is_(False))
        .order_by(calls.c.started_at, calls.c.id)
    )


def read_sample(
    store: Store, feature: str, since: dt.datetime, until: dt.datetime, size: int
) -> Sample:
    """How many calls the feature has, and up to ``size`` of them sampled for replay."""
    every = _count(store, feature, since, until)
    with store.engine.connect() as conn:
        ids = [str(row[0]) for row in conn.execute(_whole_bodies(feature, since, until))]
        picked = [ids[i] for i in spread(len(ids), size)]
        query = select(calls.c.id, calls.c.endpoint, calls.c.output_tokens, call_bodies).join(
            call_bodies, call_bodies.c.call_id == calls.c.id
        )
        rows = {}
        for start in range(0, len(picked), 500):  # bounded IN lists
            chunk = picked[start : start + 500]
            found = conn.execute(query.where(calls.c.id.in_(chunk))).mappings()
            rows.update({str(row["id"]): row for row in found})
    replays: list[Replay] = []
    skipped: Counter[str] = Counter()
    for call_id in picked:
        row = rows[call_id]
        try:
            replays.append(_replay(call_id, dict(row)))
        except Unreplayable as why:
            skipped[str(why)] += 1
    return Sample(every, len(ids), len(picked), tuple(replays), dict(skipped))


def _replay(call_id: str, row: Mapping[str, Any]) -> Replay:
    try:
        request = json.loads(row["request_body"])
    except ValueError:
        raise Unreplayable("a stored request that is not JSON") from None
    if not isinstance(request, dict):
        raise Unreplayable(NOT_CHAT)
    system, user = prompt_of(row["endpoint"], request)
    recorded = response_text(row["response_body"])
    if recorded is None:
        raise Unreplayable(NO_ANSWER)
    tokens = int(row["output_tokens"] or 0)
    return Replay(call_id, system, user, recorded, _temperature(request), tokens)


def _temperature(request: Mapping[str, Any]) -> float | None:
    config = request.get("generationConfig")
    value = config.get("temperature") if isinstance(config, dict) else request.get("temperature")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value <= 2 else None


def prompt_of(endpoint: str, request: Mapping[str, Any]) -> tuple[str | None, str]:
    """(system, user) of a one-turn chat request; :class:`Unreplayable` otherwise."""
    wire = wire_of(endpoint, dict(request))
    family = None if wire is None else wire.name
    if request.get("tools") or request.get("functions"):
        raise Unreplayable(TOOLS)
    if family == "openai_chat":
        return _openai(request.get("messages"))
    if family == "anthropic":
        return _anthropic(request)
    if family == "gemini":
        return _gemini(request)
    raise Unreplayable(NOT_CHAT)


def _texts(content: Any, kinds: Sequence[str]) -> str:
    """A message's content as text: a string, or text parts (``type`` in ``kinds``)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise Unreplayable(NOT_TEXT)
    pieces = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") not in kinds:
            raise Unreplayable(NOT_TEXT)
        if not isinstance(part.get("text"), str):
            raise Unreplayable(NOT_TEXT)
        pieces.append(part["text"])
    return "".join(pieces)


def _one_user(turns: list[tuple[str, str]]) -> str:
    if len(turns) != 1 or turns[0][0] != "user":
        raise Unreplayable(MULTI_TURN)
    return turns[0][1]


def _joined(parts: list[str]) -> str | None:
    return "\n\n".join(parts) if parts else None


def _openai(messages: Any) -> tuple[str | None, str]:
    if not isinstance(messages, list) or not messages:
        raise Unreplayable(NOT_CHAT)
    system: list[str] = []
    turns: list[tuple[str, str]] = []
    for message in messages:
        if not isinstance(message, dict):
            raise Unreplayable(NOT_CHAT)
        role = message.get("role")
        if role not in ("system", "developer", "user"):
            raise Unreplayable(MULTI_TURN)  # an assistant's or a tool's turn
        text = _texts(message.get("content"), ("text",))
        if role in ("system", "developer") and not turns:
            system.append(text)
        else:
            turns.append((str(role), text))
    return _joined(system), _one_user(turns)


def _anthropic(request: Mapping[str, Any]) -> tuple[str | None, str]:
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Unreplayable(NOT_CHAT)
    raw = request.get("system")
    system = None if raw is None else _texts(raw, ("text",))
    turns = []
    for message in messages:
        if not isinstance(message, dict):
            raise Unreplayable(NOT_CHAT)
        turns.append((str(message.get("role")), _texts(message.get("content"), ("text",))))
    return system or None, _one_user(turns)


def _gemini_text(content: Any) -> str:
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        raise Unreplayable(NOT_CHAT)
    if any(not isinstance(p, dict) or set(p) != {"text"} for p in parts):
        raise Unreplayable(NOT_TEXT)
    return "".join(str(p["text"]) for p in parts)


def _gemini(request: Mapping[str, Any]) -> tuple[str | None, str]:
    contents = request.get("contents")
    if not isinstance(contents, list) or not contents:
        raise Unreplayable(NOT_CHAT)
    instruction = request.get("systemInstruction") or request.get("system_instruction")
    system = None if instruction is None else _gemini_text(instruction)
    turns = []
    for content in contents:
        role = content.get("role", "user") if isinstance(content, dict) else None
        turns.append((str(role), _gemini_text(content)))
    return system or None, _one_user(turns)
