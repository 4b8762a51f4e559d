"""One cell through the gateway, streamed, with the official SDKs as clients:
``openai`` for OpenAI-style upstreams (and the embedded local model),
``anthropic`` for Claude; Gemini's own streaming endpoint is called with httpx.

Every request carries the lab's attribution headers, so the gateway records it
in the ledger tagged with its run. SDK retries are off: the runner retries
(and reserves budget for each attempt) itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai

from llmtally.lab.plan import Cell, Target, thinking_budget

__all__ = ["RETRYABLE_STATUS", "Clients", "Reply", "SendError"]

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
PLACEHOLDER_KEY = "llmtally-lab"  # the gateway supplies the provider's key
MESSAGE_CHARS = 300


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    latency_ms: float  # as the client saw it
    ttft_ms: float | None


class SendError(Exception):
    """A call that failed; ``reached`` says whether the gateway got the request
    (and so recorded it in the ledger)."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        *,
        retryable: bool,
        reached: bool = True,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.retryable, self.reached = status, retryable, reached
        self.retry_after = retry_after


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    try:
        value = float((headers or {}).get("retry-after", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def _status_error(status: int, message: str, headers: Mapping[str, str] | None) -> SendError:
    quota = "insufficient_quota" in message  # a spent budget: waiting will not help
    return SendError(
        f"HTTP {status}: {message}",
        status,
        retryable=status in RETRYABLE_STATUS and not quota,
        retry_after=_retry_after(headers),
    )


def _error_message(body: object, fallback: str) -> str:
    """The provider's own words from an error body (OpenAI, Anthropic and Gemini
    all nest them as ``{"error": {"message": ...}}``), cut to a readable length."""
    error = body.get("error", body) if isinstance(body, dict) else None
    found = error.get("message") if isinstance(error, dict) else None
    text = found if isinstance(found, str) and found else fallback
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def _connection_error(exc: BaseException) -> SendError:
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, httpx.ConnectError):
        cause = cause.__cause__
    reached = cause is None  # refused before the request was sent: nothing recorded
    return SendError(f"connection failed: {exc!r}", retryable=True, reached=reached)


class _Timer:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.first: float | None = None

    def token(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()

    def reply(self, parts: list[str]) -> Reply:
        now = time.perf_counter()
        ttft = (self.first - self.t0) * 1000 if self.first is not None else None
        return Reply("".join(parts), (now - self.t0) * 1000, ttft)


class Clients:
    """The SDK clients for one gateway, created on first use."""

    def __init__(self, base_url: str, api_key: str | None = None) -> None:
        self.base_url, self.api_key = base_url.rstrip("/"), api_key or PLACEHOLDER_KEY
        self._openai: openai.AsyncOpenAI | None = None
        self._anthropic: anthropic.AsyncAnthropic | None = None
        self._http: httpx.AsyncClient | None = None

    async def aclose(self) -> None:
        if self._openai is not None:
            await self._openai.close()
        if self._anthropic is not None:
            await self._anthropic.close()
        if self._http is not None:
            await self._http.aclose()

    async def send(self, cell: Cell, target: Target, headers: dict[str, str]) -> Reply:
        try:
            if target.wire.family == "anthropic":
                return await self._anthropic_call(cell, target, headers)
            if target.wire.family == "gemini":
                return await self._gemini_call(cell, target, headers)
            return await self._openai_call(cell, target, headers)
        except (openai.APIStatusError, anthropic.APIStatusError) as exc:
            message = _error_message(exc.body, exc.message)
            raise _status_error(exc.status_code, message, exc.response.headers) from exc
        except (openai.APIConnectionError, anthropic.APIConnectionError, httpx.HTTPError) as exc:
            raise _connection_error(exc) from exc
        except (openai.OpenAIError, anthropic.AnthropicError, TypeError, ValueError) as exc:
            # The SDK refused the request or could not read the answer: this cell fails,
            # with the SDK's words, and the run goes on.
            raise SendError(f"{type(exc).__name__}: {exc}", retryable=False) from exc

    async def _openai_call(self, cell: Cell, target: Target, headers: dict[str, str]) -> Reply:
        if self._openai is None:
            self._openai = openai.AsyncOpenAI(
                base_url=f"{self.base_url}/v1", api_key=self.api_key, max_retries=0
            )
        spec = target.spec
        messages = target.wire.chat_body(cell.system, cell.user)["messages"]
        options: dict[str, Any] = {}
        if spec.temperature is not None:
            options["temperature"] = spec.temperature
        # OpenAI's reasoning models take only max_completion_tokens; other servers max_tokens
        limit = "max_completion_tokens" if target.provider == "openai" else "max_tokens"
        options[limit] = spec.max_tokens
        if spec.reasoning_effort:
            options["reasoning_effort"] = spec.reasoning_effort
        timer, parts = _Timer(), []
        stream = await self._openai.chat.completions.create(
            model=spec.model,
            messages=messages,
            stream=True,
            extra_headers=headers,
            timeout=spec.timeout_s,
            **options,
        )
        async with stream:
            async for chunk in stream:
                for choice in chunk.choices:
                    if choice.delta.content:
                        timer.token()
                        parts.append(choice.delta.content)
        return timer.reply(parts)

    async def _anthropic_call(self, cell: Cell, target: Target, headers: dict[str, str]) -> Reply:
        if self._anthropic is None:
            self._anthropic = anthropic.AsyncAnthropic(
                base_url=self.base_url, api_key=self.api_key, max_retries=0
            )
        spec = target.spec
        options: dict[str, Any] = target.wire.chat_body(cell.system, cell.user)
        if spec.temperature is not None:
            # The Messages API takes temperature (0 to 1); anthropic 2.x has no argument
            # for it, so it goes in the body the SDK sends.
            options["extra_body"] = {"temperature": spec.temperature}
        budget = thinking_budget(target, spec.reasoning_effort)
        if budget is not None:
            options["thinking"] = {"type": "enabled", "budget_tokens": budget}
        timer, parts = _Timer(), []
        async with self._anthropic.messages.stream(
            model=spec.model,
            max_tokens=spec.max_tokens,
            extra_headers=headers,
            timeout=spec.timeout_s,
            **options,
        ) as stream:
            async for text in stream.text_stream:
                timer.token()
                parts.append(text)
        return timer.reply(parts)

    async def _gemini_call(self, cell: Cell, target: Target, headers: dict[str, str]) -> Reply:
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self.base_url)
        spec = target.spec
        config: dict[str, Any] = {"maxOutputTokens": spec.max_tokens}
        if spec.temperature is not None:
            config["temperature"] = spec.temperature
        budget = thinking_budget(target, spec.reasoning_effort)
        if budget is not None:
            config["thinkingConfig"] = {"thinkingBudget": budget}
        body = {**target.wire.chat_body(cell.system, cell.user), "generationConfig": config}
        path = f"/v1beta/models/{spec.model}:streamGenerateContent"
        timer, parts = _Timer(), []
        all_headers = {**headers, "x-goog-api-key": self.api_key}
        async with self._http.stream(
            "POST",
            path,
            params={"alt": "sse"},
            json=body,
            headers=all_headers,
            timeout=spec.timeout_s,
        ) as response:
            if response.status_code >= 400:
                text = (await response.aread()).decode("utf-8", "replace")
                message = _error_message(_json_or_none(text), text)
                raise _status_error(response.status_code, message, response.headers)
            async for line in response.aiter_lines():
                for text in _gemini_texts(line):
                    timer.token()
                    parts.append(text)
        return timer.reply(parts)


def _json_or_none(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _gemini_texts(line: str) -> list[str]:
    """The answer text in one SSE line of a Gemini stream (thoughts left out)."""
    if not line.startswith("data:"):
        return []
    try:
        event = json.loads(line[5:])
    except json.JSONDecodeError:
        return []
    texts = []
    for candidate in event.get("candidates") or []:
        for part in (candidate.get("content") or {}).get("parts") or []:
            if isinstance(part.get("text"), str) and not part.get("thought"):
                texts.append(part["text"])
    return texts
