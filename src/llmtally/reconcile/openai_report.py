"""OpenAI's organization Usage and Costs API pages into buckets.

Shapes, from the API reference (https://platform.openai.com/docs/api-reference/usage
and https://platform.openai.com/docs/api-reference/usage/costs):

``{"object": "page", "data": [{"object": "bucket", "start_time": <unix s>,
"end_time": <unix s>, "results": [...]}], "has_more": bool, "next_page": str|null}``

Usage results (``organization.usage.<kind>.result``): completions carry
``input_tokens`` (all input, cached included), ``input_cached_tokens``,
``output_tokens``, ``input_audio_tokens``, ``output_audio_tokens``,
``num_model_requests`` and the groups ``project_id``, ``user_id``,
``api_key_id``, ``model``, ``batch``, ``service_tier``; embeddings
``input_tokens``; images ``images`` (grouped also by ``size``, ``source``);
audio_speeches ``characters``; audio_transcriptions ``seconds``. Cost results
(``organization.costs.result``): ``amount: {value: number, currency: "usd"}``,
``line_item``, ``project_id``.

``uncached_input_tokens`` is ``input_tokens - input_cached_tokens``: OpenAI
counts cached tokens inside input (a report with more cached than input is
refused). The usage API does not name the organization: the account comes
from the caller (``--account``, or the fetch client).

A cost line "<model>, <token kind>" ("gpt-4o-2024-08-06, input", "..., cached
input", "..., output") is stored with the model as written in ``model`` (gather
matches it to the catalog, as it does usage rows); other lines keep ``model``
NULL and are compared per day. The kind is read from ``line_item`` when needed
(:func:`llmtally.reconcile.explain_types.openai_line`, the one parser).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from llmtally.reconcile.explain_types import openai_line
from llmtally.reconcile.rows import (
    Bucket,
    ReportError,
    amount_field,
    count_field,
    epoch_field,
    group_key,
    parse_buckets,
    text_field,
)
from llmtally.reconcile.tables import COST_GROUP_COLUMNS

__all__ = [
    "USAGE_KINDS",
    "cost_line_model",
    "fill_cost_model",
    "is_openai_page",
    "openai_kind",
    "parse_openai_page",
]

USAGE_KINDS = ("completions", "embeddings", "images", "audio_speeches", "audio_transcriptions")
_RESULT = "organization.usage.{}.result"
_COSTS_RESULT = "organization.costs.result"


def is_openai_page(page: Mapping[str, Any]) -> bool:
    """Whether ``page`` has OpenAI's shape: buckets with Unix ``start_time``."""
    data = page.get("data")
    if page.get("object") == "page" and isinstance(data, list):
        return True
    return isinstance(data, list) and any(
        isinstance(b, Mapping) and b.get("object") == "bucket" for b in data
    )


def openai_kind(page: Mapping[str, Any]) -> str | None:
    """``usage:<kind>`` or ``costs`` from the first result's ``object``; None when
    the page has no result to tell by."""
    for bucket in page.get("data") or []:
        results = bucket.get("results") if isinstance(bucket, Mapping) else None
        for result in results or []:
            kind = result.get("object") if isinstance(result, Mapping) else None
            if kind == _COSTS_RESULT:
                return "costs"
            for name in USAGE_KINDS:
                if kind == _RESULT.format(name):
                    return f"usage:{name}"
            raise ReportError(f"an OpenAI result of object {kind!r}: not a report llmtally stores")
    return None


def parse_openai_page(page: Mapping[str, Any], kind: str, where: str) -> list[Bucket]:
    """The page's buckets; ``kind`` is ``usage:<kind>`` or ``costs``."""

    def times(raw: Mapping[str, Any], at: str) -> tuple[dt.datetime, dt.datetime]:
        return epoch_field(raw, "start_time", at), epoch_field(raw, "end_time", at)

    def row_of(result: Mapping[str, Any], spot: str) -> dict[str, Any]:
        return _cost(result, spot) if kind == "costs" else _usage(result, kind, spot)

    return parse_buckets(page, "openai", kind, where, times, row_of)


def _object(result: Mapping[str, Any], expected: str, where: str) -> None:
    found = result.get("object")
    if found is not None and found != expected:
        raise ReportError(f"{where}: field 'object': {found!r} in a page of {expected!r}")


def _usage(result: Mapping[str, Any], kind: str, where: str) -> dict[str, Any]:
    name = kind.removeprefix("usage:")
    _object(result, _RESULT.format(name), where)
    batch = result.get("batch")
    if batch is not None and not isinstance(batch, bool):
        raise ReportError(f"{where}: field 'batch': expected true, false or null, got {batch!r}")
    row: dict[str, Any] = {
        "model": text_field(result, "model", where),
        "api_key_id": text_field(result, "api_key_id", where),
        "project_id": text_field(result, "project_id", where),
        "user_id": text_field(result, "user_id", where),
        "batch": batch,
        "service_tier": text_field(result, "service_tier", where),
        "image_size": text_field(result, "size", where),
        "image_source": text_field(result, "source", where),
        "requests": count_field(result, "num_model_requests", where, required=True),
    }
    if name in ("completions", "embeddings"):
        total = count_field(result, "input_tokens", where, required=True)
        cached = count_field(result, "input_cached_tokens", where)
        if cached > total:
            raise ReportError(
                f"{where}: field 'input_cached_tokens': {cached} is more than "
                f"input_tokens ({total}), which includes it"
            )
        row["uncached_input_tokens"] = total - cached
        row["cache_read_tokens"] = cached
        row["output_tokens"] = count_field(result, "output_tokens", where, name == "completions")
        row["input_audio_tokens"] = count_field(result, "input_audio_tokens", where)
        row["output_audio_tokens"] = count_field(result, "output_audio_tokens", where)
    elif name == "images":
        row["images"] = count_field(result, "images", where, required=True)
    elif name == "audio_speeches":
        row["characters"] = count_field(result, "characters", where, required=True)
    else:
        row["audio_seconds"] = count_field(result, "seconds", where, required=True)
    return row


def _cost(result: Mapping[str, Any], where: str) -> dict[str, Any]:
    _object(result, _COSTS_RESULT, where)
    amount = result.get("amount")
    if not isinstance(amount, Mapping):
        raise ReportError(f"{where}: field 'amount': expected {{value, currency}}")
    currency = text_field(amount, "currency", f"{where}, amount", required=True)
    assert currency is not None
    line_item = text_field(result, "line_item", where)
    return {
        "project_id": text_field(result, "project_id", where),
        "line_item": line_item,
        "model": cost_line_model(line_item),
        "currency": currency.upper(),
        "amount": amount_field(amount.get("value"), "amount.value", where),
    }


def cost_line_model(line_item: str | None) -> str | None:
    """The model a cost line bills tokens of, as written; None when it names none."""
    parsed = openai_line(line_item)
    return None if parsed is None else parsed[0]


def fill_cost_model(row: dict[str, Any]) -> dict[str, Any]:
    """A stored OpenAI cost row as an import would write it today: rows imported
    before the model was read have ``model`` NULL; this fills it from the line
    item and recomputes ``group_key``, so such a bucket imported again compares
    equal (the same line, never a second row)."""
    if row.get("model") is not None:
        return row
    model = cost_line_model(row.get("line_item"))
    if model is None:
        return row
    filled = {**row, "model": model}
    filled["group_key"] = group_key(filled, COST_GROUP_COLUMNS)
    return filled
