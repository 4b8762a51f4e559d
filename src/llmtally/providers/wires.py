"""One typed description per API wire format: everything llmtally knows about it.

A :class:`Wire` says, for one format a client can speak to the gateway:

- ``paths``: the gateway endpoints that take it, and ``hosts``: for each
  upstream kind that accepts it, the path prefix that stands for ``/v1`` there
  (Google serves OpenAI's format under ``/v1beta/openai``,
  https://ai.google.dev/gemini-api/docs/openai; Anthropic serves Chat
  Completions at ``/v1/chat/completions``,
  https://docs.anthropic.com/en/api/openai-sdk); a kind not listed does not;
- ``family``: the SDK family, whose error shape (:mod:`llmtally.providers.errors`),
  authentication headers and message grammar it shares;
- ``prompt``: where the request keeps its messages, system prompt and tool
  schemas (:mod:`llmtally.providers.prompts`), counted by role with
  :func:`llmtally.tokens.chat.count_messages` in the family's grammar;
- ``read_usage``: where the response reports usage, and :meth:`Wire.parse_usage`:
  which parser reads it. Usage is parsed by the wire the response came in and
  the provider that served it: OpenAI's shape from DeepSeek or xAI keeps their
  own semantics, from Anthropic's or Google's OpenAI-compatible endpoints it is
  read as those endpoints document it, from any other host as OpenAI's;
- ``stream``: the accumulator for its streamed events, and ``stream_usage``: how
  to ask the upstream for usage in a stream (OpenAI Chat's ``include_usage``).

Gateway, finisher, role counting, estimates of cut streams, the lab and the
token counter all read these descriptions; nothing else keeps a table of paths
or formats.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from llmtally.providers.errors import Family, error_body
from llmtally.providers.prompts import (
    Prompt,
    anthropic_prompt,
    chat_prompt,
    gemini_prompt,
    responses_prompt,
)
from llmtally.providers.registry import ProviderUsageError, UnknownProviderError, UsageParser
from llmtally.usage import Usage

if TYPE_CHECKING:
    from llmtally.providers.adjust import StreamUsageRequest
    from llmtally.providers.streams import StreamAccumulator
    from llmtally.tokens.base import Tokenizer
    from llmtally.tokens.chat import MessageCount

__all__ = [
    "ANTHROPIC",
    "BEDROCK_CONVERSE",
    "GEMINI",
    "GEMINI_PATH",
    "OPENAI_CHAT",
    "OPENAI_EMBEDDINGS",
    "OPENAI_IMAGES",
    "OPENAI_RESPONSES",
    "OPENAI_TRANSCRIPTIONS",
    "WIRES",
    "Wire",
    "WireName",
    "native_wire",
    "provider_wire",
    "wire_for_path",
    "wire_named",
]

WireName = Literal[
    "openai_chat",
    "openai_responses",
    "openai_embeddings",
    "openai_images",
    "openai_transcriptions",
    "anthropic",
    "gemini",
    "bedrock_converse",
]
# Gemini's REST paths carry the model: /v1beta/models/{model}:generateContent
GEMINI_PATH = re.compile(r"^/(v1beta|v1)/models/([^/:]+):(generateContent|streamGenerateContent)$")
UsageReader = Callable[["Wire", str, Mapping[str, Any], Mapping[str, Any] | None], "Usage | None"]
Clock = Callable[[], float]


def _reported(key: str) -> UsageReader:
    """Usage as the object under ``key`` of the response body."""

    def read(
        wire: Wire, provider: str, request: Mapping[str, Any], body: Mapping[str, Any] | None
    ) -> Usage | None:
        raw = body.get(key) if body is not None else None
        return wire.parse_usage(provider, raw) if isinstance(raw, Mapping) else None

    return read


def _images(
    wire: Wire, provider: str, request: Mapping[str, Any], body: Mapping[str, Any] | None
) -> Usage | None:
    from llmtally.providers.media import image_usage

    return image_usage(request, body)


def _transcriptions(
    wire: Wire, provider: str, request: Mapping[str, Any], body: Mapping[str, Any] | None
) -> Usage | None:
    from llmtally.providers.audio import transcription_usage

    return transcription_usage(request, body)


def _openai_parser(provider: str) -> tuple[str, UsageParser]:
    """The parser for OpenAI's usage shape as ``provider`` sends it."""
    from llmtally.providers import _builtin, parse_openai
    from llmtally.providers.gemini import parse_gemini_openai

    try:
        canonical = _builtin().canonical(provider)
    except UnknownProviderError:  # a host of your own: OpenAI's semantics
        return provider, parse_openai
    if canonical == "anthropic":  # prompt_tokens counts every input token; no cache
        return "anthropic (OpenAI-compatible)", parse_openai
    if canonical == "google":
        return "google (OpenAI-compatible)", parse_gemini_openai
    return canonical, _builtin().parser_for(canonical)


def _family_parser(family: Family, provider: str) -> tuple[str, UsageParser]:
    from llmtally.providers import parse_anthropic, parse_bedrock, parse_gemini

    if family == "anthropic":
        return "anthropic", parse_anthropic
    if family == "gemini":
        return "google", parse_gemini
    if family == "bedrock":
        return "bedrock", parse_bedrock
    return _openai_parser(provider)


@dataclass(frozen=True, slots=True)
class Wire:
    """One API wire format (see the module docstring)."""

    name: WireName
    family: Family
    paths: tuple[str, ...]
    hosts: Mapping[str, str]
    read_usage: UsageReader
    prompt_of: Callable[[Mapping[str, Any]], Prompt | None] | None = None
    stream: str | None = None  # the accumulator's name in providers.streams
    stream_usage: Callable[[Mapping[str, Any]], StreamUsageRequest] | None = field(
        default=None, repr=False
    )
    forms: bool = False  # takes multipart/form-data uploads besides JSON

    def takes(self, content_type: str) -> bool:
        """Whether a request body of ``content_type`` is this wire's: JSON, or a
        multipart form where the wire takes uploads (never text/plain or a
        urlencoded form, which a web page can send without asking)."""
        media = content_type.split(";", 1)[0].strip().lower()
        return media == "application/json" or (self.forms and media == "multipart/form-data")

    def parse_usage(self, provider: str, raw: Mapping[str, Any]) -> Usage:
        """A usage object of this wire from ``provider``; errors name both."""
        from llmtally.usage import UsageError

        label, parser = _family_parser(self.family, provider)
        try:
            return parser(raw)
        except (ProviderUsageError, UsageError) as exc:
            raise ProviderUsageError(f"{label}: {exc}") from exc

    def usage(
        self, provider: str, request: Mapping[str, Any], body: Mapping[str, Any] | None
    ) -> Usage | None:
        """The usage a response of this wire reports (None if it reports none)."""
        return self.read_usage(self, provider, request, body)

    def prompt(self, request: Mapping[str, Any]) -> Prompt | None:
        """The request's prompt parts; None for a request with no chat prompt."""
        return self.prompt_of(request) if self.prompt_of is not None else None

    def count_prompt(
        self, request: Mapping[str, Any], tokenizer: Tokenizer, model: str | None = None
    ) -> MessageCount | None:
        """The request's prompt tokens by role (ValueError for odd messages)."""
        prompt = self.prompt(request)
        if prompt is None:
            return None
        name = model or request.get("model")
        return self.count(prompt, tokenizer, name if isinstance(name, str) else None)

    def count(self, prompt: Prompt, tokenizer: Tokenizer, model: str | None) -> MessageCount:
        """``prompt`` (this wire's parts of a request) counted by role."""
        from llmtally.tokens.chat import count_messages

        return count_messages(
            prompt.messages,
            tokenizer,
            wire=self.family,
            model=model,
            tools=prompt.tools,
            system=prompt.system,
        )

    def accumulator(
        self, provider: str | None = None, clock: Clock = time.monotonic
    ) -> StreamAccumulator:
        from llmtally.providers.streams import accumulator_for

        if self.stream is None:
            raise ValueError(f"{self.name} responses do not stream")
        return accumulator_for(self.stream, provider=provider, clock=clock)  # type: ignore[arg-type]

    def error_body(self, status: int, message: str, code: str | None = None) -> bytes:
        return error_body(self.family, status, message, code)

    def upstream_path(self, kind: str, path: str) -> str | None:
        """``path`` (a gateway path of this wire) at an upstream of ``kind``, or
        None when that kind does not take this wire."""
        prefix = self.hosts.get(kind)
        if prefix is None:
            return None
        return prefix + path.removeprefix("/v1") if path.startswith("/v1/") else path

    def chat_body(self, system: str | None, user: str) -> dict[str, Any]:
        """A one-turn chat request body of this wire (no model, no options)."""
        if self.family == "gemini":
            body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": user}]}]}
            if system:
                body["systemInstruction"] = {"parts": [{"text": system}]}
            return body
        if self.family == "anthropic":
            anthropic: dict[str, Any] = {"messages": [{"role": "user", "content": user}]}
            return {**anthropic, "system": system} if system else anthropic
        system_turn = [{"role": "system", "content": system}] if system else []
        return {"messages": [*system_turn, {"role": "user", "content": user}]}


def _ask_stream_usage(body: Mapping[str, Any]) -> StreamUsageRequest:
    from llmtally.providers.adjust import with_stream_usage

    return with_stream_usage(body)


_OPENAI_HOSTS = {"openai": "/v1", "azure": "/v1"}
_GOOGLE_OPENAI = "/v1beta/openai"

OPENAI_CHAT = Wire(
    "openai_chat",
    "openai",
    ("/v1/chat/completions",),
    {**_OPENAI_HOSTS, "anthropic": "/v1", "gemini": _GOOGLE_OPENAI},
    _reported("usage"),
    chat_prompt,
    stream="openai_chat",
    stream_usage=_ask_stream_usage,
)
OPENAI_RESPONSES = Wire(
    "openai_responses",
    "openai",
    ("/v1/responses",),
    _OPENAI_HOSTS,
    _reported("usage"),
    responses_prompt,
    stream="openai_responses",
)
OPENAI_EMBEDDINGS = Wire(
    "openai_embeddings",
    "openai",
    ("/v1/embeddings",),
    {**_OPENAI_HOSTS, "gemini": _GOOGLE_OPENAI},
    _reported("usage"),
)
OPENAI_IMAGES = Wire("openai_images", "openai", ("/v1/images/generations",), _OPENAI_HOSTS, _images)
OPENAI_TRANSCRIPTIONS = Wire(
    "openai_transcriptions",
    "openai",
    ("/v1/audio/transcriptions",),
    _OPENAI_HOSTS,
    _transcriptions,
    forms=True,
)
# OpenAI-kind hosts may speak Anthropic's format too (llama.cpp's server does).
ANTHROPIC = Wire(
    "anthropic",
    "anthropic",
    ("/v1/messages",),
    {"anthropic": "/v1", "openai": "/v1"},
    _reported("usage"),
    anthropic_prompt,
    stream="anthropic",
)
GEMINI = Wire(
    "gemini",
    "gemini",
    (
        "/{version}/models/{model}:generateContent",
        "/{version}/models/{model}:streamGenerateContent",
    ),
    {"gemini": "/v1"},  # the path carries its own version
    _reported("usageMetadata"),
    gemini_prompt,
    stream="gemini",
)
# AWS Bedrock Converse: POST /model/{modelId}/converse on a bedrock upstream
# (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html),
# and ConverseStream at /converse-stream (the path, not the body, says it streams);
# matched by llmtally.gateway.clouds, not by wire_for_path.
BEDROCK_CONVERSE = Wire(
    "bedrock_converse",
    "bedrock",
    ("/model/{modelId}/converse", "/model/{modelId}/converse-stream"),
    {"bedrock": ""},
    _reported("usage"),
    stream="bedrock_converse",
)
WIRES: dict[WireName, Wire] = {
    wire.name: wire
    for wire in (
        OPENAI_CHAT,
        OPENAI_RESPONSES,
        OPENAI_EMBEDDINGS,
        OPENAI_IMAGES,
        OPENAI_TRANSCRIPTIONS,
        ANTHROPIC,
        GEMINI,
        BEDROCK_CONVERSE,
    )
}
_BY_PATH = {path: wire for wire in WIRES.values() for path in wire.paths if "{" not in path}
_NATIVE: dict[str, Wire] = {
    "openai": OPENAI_CHAT,
    "azure": OPENAI_CHAT,
    "anthropic": ANTHROPIC,
    "gemini": GEMINI,
}


def wire_named(name: str) -> Wire:
    try:
        return WIRES[name]  # type: ignore[index]
    except KeyError:
        raise ValueError(f"wire must be one of {', '.join(WIRES)}, got {name!r}") from None


def wire_for_path(path: str) -> Wire | None:
    """The wire a gateway path takes, or None for a path that is no endpoint."""
    if GEMINI_PATH.match(path):
        return GEMINI
    return _BY_PATH.get(path)


def native_wire(kind: str) -> Wire:
    """The chat wire an upstream of ``kind`` speaks natively (the lab's choice)."""
    try:
        return _NATIVE[kind]
    except KeyError:
        raise ValueError(f"a {kind} upstream speaks no chat wire llmtally sends itself") from None


def provider_wire(provider: str) -> Wire:
    """The chat wire a catalog provider's own API speaks (OpenAI Chat for the rest,
    which all serve OpenAI's format): how ``count_tokens`` frames its messages."""
    return {"anthropic": ANTHROPIC, "google": GEMINI}.get(provider, OPENAI_CHAT)
