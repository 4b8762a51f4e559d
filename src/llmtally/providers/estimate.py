"""Usage estimated offline, for a stream that was cut or an upstream that sent none.

The prompt is counted the way the request's wire keeps it
(:meth:`llmtally.providers.wires.Wire.count_prompt`); the output is the tokens
of the text generated so far.
Counts the upstream did report before the cut (Anthropic's ``message_start``
input and cache counts, a running output total) are kept where they are
larger than the estimate. The result is marked ``source="estimated"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from llmtally.providers.streams import StreamAccumulator, WireFormat
from llmtally.providers.wires import wire_named
from llmtally.tokens.base import Tokenizer
from llmtally.usage import Usage

__all__ = ["estimate_usage", "prompt_tokens", "settle_usage", "tokenizer_for"]


def prompt_tokens(
    body: Mapping[str, Any], wire: WireFormat, tokenizer: Tokenizer, *, model: str | None = None
) -> int:
    """The estimated prompt tokens of one request body in ``wire`` format."""
    counted = wire_named(wire).count_prompt(body, tokenizer, model)
    if counted is None:
        raise ValueError(f"a {wire} request needs its messages to be counted")
    return counted.total


def tokenizer_for(model: str, provider: str | None = None) -> Tokenizer:
    """The offline tokenizer the catalog names for ``model`` (see
    :meth:`llmtally.tokens.registry.TokenizerRegistry.for_model` for its errors)."""
    from llmtally.tokens.registry import default_registry  # loads the catalog: keep lazy

    return default_registry().for_model(model, provider)[1]


def estimate_usage(
    body: Mapping[str, Any],
    wire: WireFormat,
    *,
    tokenizer: Tokenizer | None = None,
    output_text: str = "",
    reported: Usage | None = None,
    model: str | None = None,
    provider: str | None = None,
) -> Usage:
    """Usage for ``body`` and the ``output_text`` generated for it, estimated.

    ``tokenizer`` defaults to the one the catalog names for ``model`` (or the
    body's ``model``) at ``provider``. ``reported`` holds counts the upstream
    sent before the stream stopped; each total is the larger of it and the
    estimate, and its subsets are kept."""
    model = model or body.get("model")
    if tokenizer is None:
        if not isinstance(model, str):
            raise ValueError("estimate_usage needs a tokenizer or a model name")
        tokenizer = tokenizer_for(model, provider)
    inputs = prompt_tokens(body, wire, tokenizer, model=model)
    outputs = tokenizer.count(output_text) if output_text else 0
    if reported is None:
        return Usage(input_tokens=inputs, output_tokens=outputs, source="estimated")
    return replace(
        reported,
        input_tokens=max(inputs, reported.input_tokens),
        output_tokens=max(outputs, reported.output_tokens),
        source="estimated",
    )


def settle_usage(
    stream: StreamAccumulator,
    body: Mapping[str, Any],
    *,
    tokenizer: Tokenizer | None = None,
    model: str | None = None,
    provider: str | None = None,
) -> Usage:
    """The stream's reported usage when it sent one; else an estimate from the
    request and the text streamed so far (what the upstream reported kept)."""
    reported = stream.usage()
    if reported is not None:
        return reported
    return estimate_usage(
        body,
        stream.wire,
        tokenizer=tokenizer,
        output_text=stream.text,
        reported=stream.partial_usage(),
        model=model or body.get("model") or stream.model,
        provider=provider,
    )
