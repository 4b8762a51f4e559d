"""Usage of the audio transcription endpoints, read from the provider's response.

``POST /v1/audio/transcriptions`` (OpenAI:
https://platform.openai.com/docs/api-reference/audio/createTranscription; Groq,
OpenAI-compatible: https://console.groq.com/docs/speech-to-text) reports one of
two usage objects, told apart by ``type``:

- ``{"type": "duration", "seconds": N}``: billed by the audio's duration
  (``whisper-1``; Groq's whisper models);
- ``{"type": "tokens", "input_tokens": N, "output_tokens": N, "total_tokens": N,
  "input_token_details": {"audio_tokens": N, "text_tokens": N}}``: the gpt-4o
  transcribe models, billed by tokens; ``input_tokens`` counts every prompt
  token, the audio ones priced at the audio input rate, the text ones (a
  ``prompt``) at the text rate.

A response without usage is priced by the uploaded WAV file's duration, when
the gateway could read it (``estimated``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from llmtally.providers.registry import Fields, InconsistentUsageError, ProviderUsageError
from llmtally.usage import Usage, UsageError

__all__ = ["AUDIO_USAGE_TYPES", "is_audio_usage", "parse_audio_usage", "transcription_usage"]

AUDIO_USAGE_TYPES = ("duration", "tokens")


def is_audio_usage(raw: Mapping[str, Any]) -> bool:
    """Whether ``raw`` is a transcription usage object (its ``type`` says so)."""
    return raw.get("type") in AUDIO_USAGE_TYPES


def _seconds(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ProviderUsageError(f"usage.seconds: must be a number >= 0, got {value!r}")
    try:
        seconds = Decimal(str(value))
    except InvalidOperation:
        raise ProviderUsageError(f"usage.seconds: must be a number >= 0, got {value!r}") from None
    if not seconds.is_finite() or seconds < 0:
        raise ProviderUsageError(f"usage.seconds: must be a number >= 0, got {value!r}")
    return seconds


def parse_audio_usage(raw: Mapping[str, Any]) -> Usage:
    """A transcription usage object -> :class:`Usage` (ProviderUsageError, naming
    the field, when it cannot be read)."""
    kind = raw.get("type")
    if kind == "duration":
        if raw.get("seconds") is None:
            raise ProviderUsageError("usage.seconds: required field is missing")
        return Usage(audio_seconds=_seconds(raw["seconds"]))
    if kind == "tokens":
        fields = Fields(raw)
        details = fields.child("input_token_details")
        try:
            return Usage(
                input_tokens=fields.required("input_tokens"),
                input_audio_tokens=details.count("audio_tokens"),
                output_tokens=fields.required("output_tokens"),
            )
        except UsageError as exc:
            raise InconsistentUsageError(f"usage: {exc}") from exc
    known = " or ".join(repr(t) for t in AUDIO_USAGE_TYPES)
    raise ProviderUsageError(f"usage.type: must be {known}, got {kind!r}")


def transcription_usage(request: Mapping[str, Any], body: Mapping[str, Any] | None) -> Usage | None:
    """A transcription's usage: the reported one (by duration or by tokens),
    else the uploaded WAV file's duration (``request["_file"]["wav_seconds"]``,
    as the gateway reads it), else None."""
    raw = body.get("usage") if body else None
    if isinstance(raw, Mapping) and is_audio_usage(raw):
        return parse_audio_usage(raw)
    upload = request.get("_file")
    seconds = upload.get("wav_seconds") if isinstance(upload, Mapping) else None
    if isinstance(seconds, float):
        return Usage(audio_seconds=Decimal(f"{seconds:.3f}"), source="estimated")
    return None
