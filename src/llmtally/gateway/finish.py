"""After the client has its answer: read the usage, count the prompt by role,
price the call and hand it to the recorder, on one worker thread so the event
loop never waits for any of it (one worker keeps calls in their order)."""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from llmtally.gateway.fingerprint import prompt_fingerprint
from llmtally.gateway.recording import STREAM_CUT_STATUS, Exchange, build_call
from llmtally.gateway.redact import Redactor, secrets_of
from llmtally.ledger.rows import CallBodies
from llmtally.providers.estimate import settle_usage
from llmtally.providers.request_facts import finish_reason
from llmtally.providers.streams import StreamAccumulator
from llmtally.usage import Usage

if TYPE_CHECKING:
    from llmtally.catalog import Catalog
    from llmtally.gateway.app import Recorder
    from llmtally.gateway.config import GatewayConfig
    from llmtally.providers.prompts import Prompt
    from llmtally.tokens.chat import MessageCount
    from llmtally.usage import Call

__all__ = ["Finisher", "role_counts", "settle"]

_log = logging.getLogger("llmtally.gateway")


def _body_of(response: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(response)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if isinstance(body, list):  # a Gemini stream without alt=sse: a JSON array
        body = next((b for b in reversed(body) if isinstance(b, dict)), None)
    return body if isinstance(body, dict) else None


def _usage_for(ex: Exchange, body: dict[str, Any] | None) -> Usage | None:
    """The call's usage, read the way its wire reports it. A refused call of a
    wire with no chat prompt (embeddings, images, audio) used nothing."""
    if ex.status >= 400 and (body is None or ex.wire.prompt_of is None):
        return None
    return ex.wire.usage(ex.provider, ex.request_json, body)


def _read_body(ex: Exchange, response: bytes) -> None:
    body = _body_of(response) if response else None
    if body is not None:
        served = body.get("model") or body.get("modelVersion")
        ex.model_served = served if isinstance(served, str) else None
        ex.finish_reason = finish_reason(ex.wire.name, body)
    if ex.status >= 400 and ex.error is None and response:
        ex.error = response[:2000].decode("utf-8", "replace")
    try:
        ex.usage = _usage_for(ex, body)
    except ValueError as exc:
        ex.usage_error = f"usage not understood: {exc}"


def _settle_stream(ex: Exchange, acc: StreamAccumulator) -> None:
    """Reported usage from the stream, else an estimate flagged ``estimated``."""
    ex.model_served = acc.model
    ex.finish_reason = acc.finish_reason
    ex.first_byte_at = acc.first_token_at or ex.first_byte_at
    if not acc.finished and ex.error is None:
        ex.error = "stream ended before its last event"
    if not acc.finished and ex.status < 400:
        ex.status = STREAM_CUT_STATUS
    try:
        ex.usage = settle_usage(
            acc, ex.request_json, model=ex.model_requested, provider=ex.provider
        )
    except (LookupError, ValueError) as exc:  # no tokenizer, unreadable usage
        ex.usage_error = f"stream usage unknown: {exc}"


def settle(ex: Exchange, response: bytes, acc: StreamAccumulator | None) -> None:
    """Fill in ``ex``'s usage, served model, finish reason and error from what came back: the
    stream's accumulator, else the whole response body. The gateway's finisher
    and the SDK instrumentation (:mod:`llmtally.instrument`) read calls this one way."""
    if acc is not None:
        _settle_stream(ex, acc)
    else:
        _read_body(ex, response)


def role_counts(ex: Exchange, prompt: Prompt) -> MessageCount | None:
    """Prompt tokens by role (system, tool schemas, history, latest user turn,
    retrieved context), so hidden prompt costs show; None where they cannot be
    counted (no tokenizer for the model, odd messages)."""
    from llmtally.tokens.registry import default_registry

    try:
        _, tokenizer = default_registry().for_model(ex.model_requested, ex.provider)
        return ex.wire.count(prompt, tokenizer, ex.model_requested)
    except (LookupError, ValueError, TypeError):  # TypeError: a tokenizer refusing odd text
        return None


class Finisher:
    def __init__(self, config: GatewayConfig, recorder: Recorder, catalog: Catalog) -> None:
        self.config, self.recorder, self.catalog = config, recorder, catalog
        self._redact = Redactor(config.redact)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmtally-finish")
        self.pending = 0  # calls handed over and not yet recorded
        self._count = threading.Lock()

    def submit(
        self, ex: Exchange, request: bytes, response: bytes, acc: StreamAccumulator | None
    ) -> Future[Call | None]:
        """The call, once recorded (None when recording it failed, which is logged)."""
        with self._count:
            self.pending += 1
        return self._pool.submit(self._finish_logged, ex, request, response, acc)

    def _finish_logged(
        self, ex: Exchange, request: bytes, response: bytes, acc: StreamAccumulator | None
    ) -> Call | None:
        try:
            return self.finish(ex, request, response, acc)
        except Exception:  # a worker thread: say so loudly, never drop it silently
            _log.exception("could not record a call to %s (%s)", ex.model_requested, ex.endpoint)
            return None
        finally:
            with self._count:
                self.pending -= 1

    def close(self) -> None:
        """Finish every call handed over so far."""
        self._pool.shutdown(wait=True)

    def finish(
        self, ex: Exchange, request: bytes, response: bytes, acc: StreamAccumulator | None
    ) -> Call:
        settle(ex, response, acc)
        prompt = ex.wire.prompt(ex.request_json)  # None: no chat prompt (embeddings...)
        if prompt is not None:
            ex.fingerprint = prompt_fingerprint(prompt.system_text)
            if self.config.count_prompt_roles and ex.usage is not None:  # a prompt was billed
                ex.roles = role_counts(ex, prompt)
        secrets = self._secrets(ex)
        if ex.error is not None:  # an upstream's error can echo the key it was sent
            ex.error = self._redact(ex.error, secrets)
        call = build_call(ex, self.catalog)
        if ex.hold is not None:
            ex.hold.settle(call)
        self.recorder.submit(call, self._bodies(call.id, request, response, secrets))
        return call

    def _secrets(self, ex: Exchange) -> frozenset[str]:
        """The keys this call carried, and every upstream's own."""
        keys = (up.api_key() for up in self.config.upstreams.values())
        return secrets_of(ex.headers, keys, ex.secrets)

    def _bodies(
        self, call_id: str, request: bytes, response: bytes, secrets: frozenset[str]
    ) -> CallBodies | None:
        if not self.config.record_bodies:
            return None
        cap = self.config.body_limit_bytes
        return CallBodies(
            call_id=call_id,
            request_body=self._redact(request[:cap].decode("utf-8", "replace"), secrets),
            response_body=self._redact(response[:cap].decode("utf-8", "replace"), secrets),
            request_truncated=len(request) > cap,
            response_truncated=len(response) > cap,
        )
