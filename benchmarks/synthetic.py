"""A synthetic ledger: N calls over the last D days, a realistic mix.

12 models with their real catalog prices (most traffic on the cheap ones),
2,000 users (Zipf-like: a few heavy users), 15 features, 8 gateway keys, 6
tags, 40 system prompts (fingerprints), traces of 1-8 calls (agent fan-out,
with title/summary background calls), 2% errors (429/500), streamed calls
with a time to first token, prompt-role counts on chat calls, cache reads on
a third of the calls. Rows are written through ``Store.insert_rows`` in time
order, so the rollups are built by the same code the gateway uses.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmtally.catalog import Catalog
from llmtally.ledger import Store, open_store
from llmtally.meter import cost, savings
from llmtally.usage import Usage, new_ulid

__all__ = ["calls", "fill", "ledger"]

MODELS = [  # (provider, model, share of calls, mean input tokens, mean output tokens)
    ("openai", "gpt-4o-mini", 30, 1800, 300),
    ("openai", "gpt-4o", 10, 2500, 400),
    ("openai", "gpt-4.1-mini", 8, 2000, 350),
    ("openai", "o3-mini", 4, 1500, 1200),
    ("anthropic", "claude-3-5-haiku-20241022", 10, 2200, 350),
    ("anthropic", "claude-sonnet-4-20250514", 8, 3500, 600),
    ("google", "gemini-2.0-flash", 12, 2500, 300),
    ("google", "gemini-2.5-pro", 3, 4000, 900),
    ("deepseek", "deepseek-chat", 6, 2000, 400),
    ("mistral", "mistral-small-latest", 4, 1500, 300),
    ("groq", "llama-3.3-70b-versatile", 3, 1500, 300),
    ("xai", "grok-3-mini", 2, 1500, 500),
]
FEATURES = ["chat", "search", "summarise", "title", "agent", "classify", "extract", "translate"]
FEATURES += ["rerank", "draft", "review", "support", "sql", "tagging", "onboarding"]
TAGS = ["beta", "eu", "us", "internal", "trial", "enterprise"]
USERS = 2000
KEYS = 8
FINGERPRINTS = [f"{i:016x}" for i in range(40)]


@dataclass(frozen=True, slots=True)
class _Model:
    provider: str
    name: str
    input_mean: int
    output_mean: int
    price: Any


def _models(catalog: Catalog, at: dt.datetime) -> tuple[list[_Model], list[int]]:
    found, weights = [], []
    for provider, name, share, n_in, n_out in MODELS:
        found.append(_Model(provider, name, n_in, n_out, catalog.price_at(provider, name, at)))
        weights.append(share)
    return found, weights


def _usage(rng: random.Random, model: _Model) -> Usage:
    n_in = max(1, int(rng.expovariate(1 / model.input_mean)))
    n_out = max(1, int(rng.expovariate(1 / model.output_mean)))
    reasoning = n_out // 2 if model.name.startswith(("o3", "grok-3-mini", "gemini-2.5")) else 0
    cached = (n_in // 64) * 32 if rng.random() < 0.33 else 0
    return Usage(
        input_tokens=n_in, cache_read_tokens=cached, output_tokens=n_out, reasoning_tokens=reasoning
    )


def _roles(rng: random.Random, n_in: int) -> dict[str, int | None]:
    if rng.random() < 0.2:
        return dict.fromkeys(
            ("input_system_tokens", "input_tools_tokens", "input_history_tokens"), None
        ) | {"input_latest_user_tokens": None}
    system = int(n_in * rng.uniform(0.1, 0.5))
    tools = int(n_in * rng.uniform(0.0, 0.15))
    latest = int(n_in * rng.uniform(0.05, 0.2))
    history = max(0, n_in - system - tools - latest - 12)
    return {
        "input_system_tokens": system,
        "input_tools_tokens": tools,
        "input_history_tokens": history,
        "input_latest_user_tokens": latest,
    }


def _cost_columns(usage: Usage, model: _Model, ok: bool) -> dict[str, Any]:
    if not ok:
        return {"cost_error": "no usage reported (HTTP 500)"}
    paid = cost(usage, model.price)
    saved = savings(usage, model.price, paid)
    columns = {f"cost_{name}": getattr(paid, name) for name in paid._fields[:8]}
    columns.update(
        cost_total=paid.total,
        price_id=paid.price.entry_id,
        price_source=paid.price.source,
        price_window=paid.price.window,
        catalog_version=paid.price.catalog_version,
        saved_cache=saved.cache,
        saved_tier=saved.tier,
    )
    return columns


def _row(
    rng: random.Random, model: _Model, at: dt.datetime, trace: dict[str, Any]
) -> dict[str, Any]:
    status = 200 if rng.random() > 0.02 else rng.choice([429, 500, 503])
    usage = _usage(rng, model)
    latency = rng.lognormvariate(6.5, 0.7) * (model.output_mean / 400)
    streamed = rng.random() < 0.6
    row: dict[str, Any] = dict.fromkeys(_columns())
    row.update(
        id=new_ulid(),
        started_at=at,
        provider=model.provider,
        model_requested=model.name,
        model_served=model.name,
        endpoint="/v1/chat/completions",
        status=status,
        latency_ms=latency,
        ttft_ms=latency * rng.uniform(0.05, 0.3) if streamed else None,
        output_tokens_per_s=usage.output_tokens / (latency / 1000) if status < 400 else None,
        input_tokens=usage.input_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        output_tokens=usage.output_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        service_tier="standard",
        usage_source="reported",
        **_roles(rng, usage.input_tokens),
        **_cost_columns(usage, model, status < 400),
        **trace,
    )
    return row


def _counts() -> dict[str, int]:
    names = ("cache_write_tokens", "cache_write_1h_tokens", "input_audio_tokens")
    names += ("input_image_tokens", "output_audio_tokens", "output_image_tokens", "characters")
    return {**dict.fromkeys(names, 0), "requests": 1}


@functools.cache
def _columns() -> tuple[str, ...]:
    from llmtally.ledger.schema import calls as calls_table

    return tuple(c.name for c in calls_table.columns)


def _trace(rng: random.Random, n: int, user_weights: list[float]) -> dict[str, Any]:
    user = rng.choices(range(USERS), user_weights)[0]
    tags = rng.sample(TAGS, rng.choice([0, 1, 1, 2]))
    return {
        "user_id": f"user-{user:04d}",
        "feature": rng.choice(FEATURES),
        "key_id": f"key-{user % KEYS}",
        "tags": json.dumps(tags) if tags else None,
        "trace_id": f"trace-{n:08d}",
        "prompt_fingerprint": rng.choice(FINGERPRINTS),
    }


def calls(total: int, days: int, now: dt.datetime, seed: int = 7) -> Iterator[dict[str, Any]]:
    """``total`` call rows evenly over ``[now - days, now)``, in time order."""
    rng = random.Random(seed)
    models, weights = _models(Catalog.load(), now)
    user_weights = [1 / (i + 1) ** 0.8 for i in range(USERS)]
    start = now - dt.timedelta(days=days)
    step = dt.timedelta(days=days) / total
    made, trace_no = 0, 0
    while made < total:
        trace_no += 1
        trace = _trace(rng, trace_no, user_weights)
        parent = None
        for _ in range(min(rng.choice([1, 1, 1, 2, 3, 5, 8]), total - made)):
            model = rng.choices(models, weights)[0]
            row = _row(rng, model, start + made * step, trace)
            row.update(_counts(), parent_id=parent)
            parent = parent or row["id"]
            if parent != row["id"] and rng.random() < 0.3:
                row["feature"] = rng.choice(["title", "summarise"])  # background calls
            made += 1
            yield row


def fill(store: Store, total: int, days: int, now: dt.datetime, batch: int = 20_000) -> int:
    """Write ``total`` synthetic calls into ``store``; the number written."""
    rows: list[dict[str, Any]] = []
    written = 0
    for row in calls(total, days, now):
        rows.append(row)
        if len(rows) == batch:
            store.insert_rows(rows)
            written += len(rows)
            rows = []
    store.insert_rows(rows)
    return written + len(rows)


def ledger(folder: Path, name: str, total: int, days: int = 30) -> tuple[str, dt.datetime]:
    """The URL of ``folder/<name>-<total>.sqlite3`` and the moment it was made;
    made first (``total`` calls over ``days`` days to now) when missing. Its
    facts are kept beside it as JSON, so later runs see the same ledger."""
    path = folder / f"{name}-{total}.sqlite3"
    info = path.with_suffix(".sqlite3.json")
    if not info.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        started = time.perf_counter()
        with open_store(f"sqlite:///{path}") as store:
            made = fill(store, total, days, now)
        seconds = time.perf_counter() - started
        facts = {"calls": made, "days": days, "now": now.isoformat(), "seconds": seconds}
        info.write_text(json.dumps(facts))
    meta = json.loads(info.read_text())
    print(f"ledger: {path.name}, {meta['calls']:,} calls over {meta['days']} days to {meta['now']}")
    print(f"  made in {meta['seconds']:.0f} s; {path.stat().st_size / 1e6:,.0f} MB")
    return f"sqlite:///{path}", dt.datetime.fromisoformat(meta["now"])
