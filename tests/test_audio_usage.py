"""The usage objects of the audio transcription endpoints (OpenAI, Groq), read by
``llmtally.providers.audio`` and priced by ``llmtally cost``."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtally.cli import app
from llmtally.providers import ProviderUsageError
from llmtally.providers.audio import parse_audio_usage, transcription_usage
from llmtally.usage import Usage

# As the providers document them (OpenAI createTranscription; Groq, OpenAI-compatible).
WHISPER = {"type": "duration", "seconds": 61.4}
GPT4O_TRANSCRIBE = {
    "type": "tokens",
    "input_tokens": 1250,
    "input_token_details": {"text_tokens": 50, "audio_tokens": 1200},
    "output_tokens": 300,
    "total_tokens": 1550,
}
GROQ = {"type": "duration", "seconds": 35.2}


def _record(provider: str, model: str, usage: dict[str, object]) -> str:
    at = "2026-01-05T12:00:00Z"
    return json.dumps({"provider": provider, "model": model, "timestamp": at, "usage": usage})


def test_cost_jsonl_prices_every_transcription_usage_shape(tmp_path: Path) -> None:
    lines = [
        _record("openai", "whisper-1", WHISPER),
        _record("openai", "gpt-4o-transcribe", GPT4O_TRANSCRIBE),
        _record("groq", "whisper-large-v3", GROQ),
        _record("openai", "gpt-4o-mini-transcribe", GPT4O_TRANSCRIBE),
    ]
    source = tmp_path / "audio.jsonl"
    source.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(
        app, ["cost", "--jsonl", str(source)], env={"LLMTALLY_HOME": str(tmp_path / "home")}
    )
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["error"] for o in out] == [None] * 4
    # whisper-1: $0.006 a minute, to the nearest second: 61.4 s -> 61 s x 0.006 / 60 = 0.0061
    assert Decimal(out[0]["cost_usd"]) == Decimal("0.0061")
    # gpt-4o-transcribe: 1,200 audio x $6 + 50 text x $2.50 + 300 out x $10 per 1M
    # = 0.0072 + 0.000125 + 0.003 = 0.010325
    assert Decimal(out[1]["cost_usd"]) == Decimal("0.010325")
    # Groq whisper-large-v3: $0.111 an hour by the second, rounded up: 35.2 s -> 36 s
    # x 0.111 / 3,600 = 0.00111
    assert Decimal(out[2]["cost_usd"]) == Decimal("0.00111")
    # gpt-4o-mini-transcribe: 1,200 x $3 + 50 x $1.25 + 300 x $5 per 1M
    # = 0.0036 + 0.0000625 + 0.0015 = 0.0051625
    assert Decimal(out[3]["cost_usd"]) == Decimal("0.0051625")


def test_the_two_shapes_read_as_usage() -> None:
    assert parse_audio_usage(WHISPER) == Usage(audio_seconds=Decimal("61.4"))
    assert parse_audio_usage(GPT4O_TRANSCRIBE) == Usage(
        input_tokens=1250, input_audio_tokens=1200, output_tokens=300
    )
    # no details: every input token is billed at the text rate
    bare = {"type": "tokens", "input_tokens": 10, "output_tokens": 4}
    assert parse_audio_usage(bare) == Usage(input_tokens=10, output_tokens=4)


@pytest.mark.parametrize(
    ("usage", "message"),
    [
        ({"type": "duration"}, "usage.seconds: required field is missing"),
        ({"type": "duration", "seconds": -1}, "usage.seconds: must be a number >= 0"),
        ({"type": "duration", "seconds": "soon"}, "usage.seconds: must be a number >= 0"),
        ({"type": "tokens", "output_tokens": 3}, "usage.input_tokens: required field is missing"),
        (
            {"type": "tokens", "input_tokens": 5, "output_tokens": 1,
             "input_token_details": {"audio_tokens": 9}},
            "usage: ",
        ),
        ({"type": "minutes", "minutes": 2}, "usage.type: must be 'duration' or 'tokens'"),
    ],
)  # fmt: skip
def test_a_malformed_transcription_usage_names_the_field(
    usage: dict[str, object], message: str
) -> None:
    with pytest.raises(ProviderUsageError, match=message.replace(".", r"\.")):
        parse_audio_usage(usage)


def test_a_response_without_usage_is_priced_by_the_uploaded_wav() -> None:
    request = {"_file": {"wav_seconds": 12.3456}}
    assert transcription_usage(request, {"text": "hi"}) == Usage(
        audio_seconds=Decimal("12.346"), source="estimated"
    )
    assert transcription_usage({}, {"text": "hi"}) is None
    assert transcription_usage(request, {"usage": WHISPER}) == Usage(audio_seconds=Decimal("61.4"))
