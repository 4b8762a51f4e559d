"""Local fakes of the providers' admin report APIs, for the reconcile fetch tests.

Each fake is a threaded HTTP server on 127.0.0.1 that holds day buckets per
report and serves them as the API reference documents: the window from the
query, at most ``limit`` buckets a page (and at most ``page_size``, as a server
may return fewer than asked), ``has_more`` and an opaque ``next_page`` cursor that
the next request passes back as ``page``.

Page, bucket, result and error shapes, as documented:
- OpenAI: https://platform.openai.com/docs/api-reference/usage (completions usage
  object, "page" of "bucket"s with unix ``start_time``/``end_time``) and
  https://platform.openai.com/docs/api-reference/usage/costs (costs object with
  ``amount: {value, currency}``); errors ``{"error": {"message", "type", "code"}}``
  (https://platform.openai.com/docs/guides/error-codes).
- Anthropic: https://docs.anthropic.com/en/api/admin-api/usage-cost/get-messages-usage-report
  and .../get-cost-report (buckets with RFC 3339 ``starting_at``/``ending_at``, cost
  ``amount`` a decimal string in cents); errors
  ``{"type": "error", "error": {"type", "message"}}`` (https://docs.anthropic.com/en/api/errors).

``plan`` scripts what the next matching requests get instead of a page: a 429
with headers, a 5xx, a 401, or ``"drop"`` (the page is cut mid-body and the
connection closed). Every request is recorded (path, query pairs, headers).

``StandInLedger`` has the two calls of ``llmtally.reconcile.load`` the fetch makes
(``import_page``, ``last_bucket_end``) and remembers every bucket it was handed,
so that "stored twice" is visible.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

DAY = dt.timedelta(days=1)


@dataclass
class Seen:
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]

    def one(self, name: str) -> str | None:
        values = [value for key, value in self.query if key == name]
        assert len(values) <= 1, (name, values)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.query if key == name]


@dataclass
class Step:
    """What a request whose path ends with ``path`` (and, if given, whose page
    cursor is ``page``) gets instead of its page, ``times`` times."""

    action: str  # "429", "500", "401", "403", "400", "drop"
    path: str = ""
    page: str | None = None
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def openai_completions_result(day: int) -> dict[str, Any]:
    """A usage/completions result as the reference's example, counts varied by day."""
    return {
        "object": "organization.usage.completions.result",
        "input_tokens": 1000 + day,
        "output_tokens": 500,
        "input_cached_tokens": 800,
        "input_audio_tokens": 0,
        "output_audio_tokens": 0,
        "num_model_requests": 5,
        "project_id": "proj_abc",
        "user_id": None,
        "api_key_id": "key_abc",
        "model": "gpt-4o-mini-2024-07-18",
        "batch": False,
    }


def _openai_other(name: str, counts: dict[str, int]) -> Callable[[int], dict[str, Any]]:
    """An embeddings/images/audio usage result: its own object name and counts
    (input_tokens; images; characters; seconds) beside the usual groups."""

    def result(day: int) -> dict[str, Any]:
        return {
            "object": f"organization.usage.{name}.result",
            **counts,
            "num_model_requests": 2,
            "project_id": "proj_abc",
            "user_id": None,
            "api_key_id": "key_abc",
            "model": "text-embedding-3-small" if name == "embeddings" else None,
        }

    return result


def openai_costs_result(day: int) -> dict[str, Any]:
    return {
        "object": "organization.costs.result",
        "amount": {"value": 0.06, "currency": "usd"},
        "line_item": "gpt-4o-mini-2024-07-18, input",
        "project_id": "proj_abc",
    }


def anthropic_messages_result(day: int) -> dict[str, Any]:
    """A usage_report/messages result as the reference's example."""
    return {
        "uncached_input_tokens": 1500 + day,
        "cache_creation": {"ephemeral_1h_input_tokens": 1000, "ephemeral_5m_input_tokens": 500},
        "cache_read_input_tokens": 200,
        "output_tokens": 500,
        "server_tool_use": {"web_search_requests": 10},
        "api_key_id": "apikey_01Rj2N8SVvo6BePZj99NhmiT",
        "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
        "model": "claude-sonnet-4-20250514",
        "service_tier": "standard",
        "context_window": "0-200k",
    }


def anthropic_cost_result(day: int) -> dict[str, Any]:
    return {
        "currency": "USD",
        "amount": "123.45",
        "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
        "description": "Claude Sonnet 4 Usage - Input Tokens",
        "cost_type": "tokens",
        "context_window": "0-200k",
        "model": "claude-sonnet-4-20250514",
        "service_tier": "standard",
        "token_type": "uncached_input_tokens",
    }


class FakeAdminAPI:
    """One provider's fake; ``url`` is its base URL while started."""

    provider = ""
    key = ""

    def __init__(self, first_day: dt.datetime, days: int, page_size: int = 31) -> None:
        self.first_day = first_day
        self.days = days
        self.page_size = page_size
        self.plan: list[Step] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # -- what a subclass says about its API --------------------------------
    results: dict[str, Callable[[int], dict[str, Any]]] = {}

    def window(self, seen: Seen) -> tuple[dt.datetime, dt.datetime]:
        raise NotImplementedError

    def bucket(self, start: dt.datetime, results: list[dict[str, Any]]) -> dict[str, Any]:
        raise NotImplementedError

    def page(self, data: list[dict[str, Any]], cursor: str | None) -> dict[str, Any]:
        return {"data": data, "has_more": cursor is not None, "next_page": cursor}

    def authorized(self, headers: dict[str, str]) -> bool:
        raise NotImplementedError

    def error(self, status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError

    # -- serving -------------------------------------------------------------
    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, seen: Seen) -> tuple[int, dict[str, str], bytes | None]:
        """(status, headers, body); body None: cut the connection mid-page."""
        with self._lock:
            self.seen.append(seen)
            step = self._planned(seen)
        if step is not None and step.action != "drop":
            status = int(step.action)
            return status, step.headers, self._json(self.error(status, "planned failure"))
        if not self.authorized(seen.headers):
            return 401, {}, self._json(self.error(401, "invalid admin key"))
        suffix = seen.path.rsplit("/", 1)[-1]
        if suffix not in self.results:
            return 404, {}, self._json(self.error(404, f"no route {seen.path}"))
        body = self._json(self._page(seen, self.results[suffix]))
        return 200, {}, (None if step is not None else body)

    def _planned(self, seen: Seen) -> Step | None:
        for step in self.plan:
            if step.times > 0 and seen.path.endswith(step.path):
                if step.page is None or step.page == seen.one("page"):
                    step.times -= 1
                    return step
        return None

    def _page(self, seen: Seen, result: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
        start, end = self.window(seen)
        days = [
            day
            for day in range(self.days)
            if start <= self.first_day + day * DAY and self.first_day + (day + 1) * DAY <= end
        ]
        cursor = seen.one("page")
        offset = int(base64.b64decode(cursor.removeprefix("page_"))) if cursor else 0
        size = min(int(seen.one("limit") or 7), self.page_size)
        chosen = days[offset : offset + size]
        more = offset + size < len(days)
        next_cursor = "page_" + base64.b64encode(str(offset + size).encode()).decode()
        data = [self.bucket(self.first_day + day * DAY, [result(day)]) for day in chosen]
        return self.page(data, next_cursor if more else None)

    @staticmethod
    def _json(data: Any) -> bytes:
        return json.dumps(data).encode()


class FakeOpenAI(FakeAdminAPI):
    provider = "openai"
    key = "sk-admin-test-0123456789abcdef"
    results = {
        "completions": openai_completions_result,
        "embeddings": _openai_other("embeddings", {"input_tokens": 16}),
        "images": _openai_other("images", {"images": 2}),
        "audio_speeches": _openai_other("audio_speeches", {"characters": 45}),
        "audio_transcriptions": _openai_other("audio_transcriptions", {"seconds": 20}),
        "costs": openai_costs_result,
    }

    def window(self, seen: Seen) -> tuple[dt.datetime, dt.datetime]:
        start = dt.datetime.fromtimestamp(int(seen.one("start_time") or 0), dt.UTC)
        end = dt.datetime.fromtimestamp(int(seen.one("end_time") or 0), dt.UTC)
        return start, end

    def bucket(self, start: dt.datetime, results: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "object": "bucket",
            "start_time": int(start.timestamp()),
            "end_time": int((start + DAY).timestamp()),
            "results": results,
        }

    def page(self, data: list[dict[str, Any]], cursor: str | None) -> dict[str, Any]:
        return {"object": "page", **super().page(data, cursor)}

    def authorized(self, headers: dict[str, str]) -> bool:
        return headers.get("authorization") == f"Bearer {self.key}"

    def error(self, status: int, message: str) -> dict[str, Any]:
        if status == 401:  # the reference's wording, the key masked as OpenAI does
            message = "Incorrect API key provided: sk-admin-****cdef."
        return {"error": {"message": message, "type": "invalid_request_error", "code": None}}


class FakeAnthropic(FakeAdminAPI):
    provider = "anthropic"
    key = "sk-ant-admin01-test-0123456789abcdef"
    results = {"messages": anthropic_messages_result, "cost_report": anthropic_cost_result}

    def window(self, seen: Seen) -> tuple[dt.datetime, dt.datetime]:
        def moment(text: str | None) -> dt.datetime:
            return dt.datetime.fromisoformat((text or "").replace("Z", "+00:00"))

        return moment(seen.one("starting_at")), moment(seen.one("ending_at"))

    def bucket(self, start: dt.datetime, results: list[dict[str, Any]]) -> dict[str, Any]:
        return {"starting_at": _iso(start), "ending_at": _iso(start + DAY), "results": results}

    def authorized(self, headers: dict[str, str]) -> bool:
        return (
            headers.get("x-api-key") == self.key
            and headers.get("anthropic-version") == "2023-06-01"
        )

    def error(self, status: int, message: str) -> dict[str, Any]:
        kinds = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
        kind = kinds.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}}


@dataclass(frozen=True)
class Outcome:
    """As llmtally.reconcile.load.PageResult: rows new, rows already there."""

    rows_new: int
    rows_already: int


class StandInLedger:
    """Same calls as llmtally.reconcile.load; keeps every bucket it was handed."""

    def __init__(self) -> None:
        self.pages: list[tuple[str, str, str, str | None]] = []  # provider, kind, source, acct
        self.buckets: list[tuple[str, str, str | None, str]] = []  # provider, kind, acct, start

    def import_page(
        self,
        store: Any,
        provider: str,
        kind: str,
        page: Mapping[str, Any],
        source: str,
        account: str | None = None,
    ) -> Outcome:
        self.pages.append((provider, kind, source, account))
        stored = already = 0
        for bucket in page["data"]:
            start = str(bucket.get("start_time", bucket.get("starting_at")))
            key = (provider, kind, account, start)
            rows = len(bucket["results"])
            if key in self.buckets:
                already += rows
            else:
                self.buckets.append(key)
                stored += rows
        return Outcome(stored, already)

    def last_bucket_end(
        self, store: Any, provider: str, kind: str, account: str | None
    ) -> dt.datetime | None:
        ends = [
            _start(start) + dt.timedelta(days=1)
            for p, k, a, start in self.buckets
            if (p, k, a) == (provider, kind, account)
        ]
        return max(ends) if ends else None


def _start(text: str) -> dt.datetime:
    if text.isdigit():
        return dt.datetime.fromtimestamp(int(text), dt.UTC)
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _handler(fake: FakeAdminAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802
            parts = urllib.parse.urlsplit(self.path)
            seen = Seen(
                parts.path,
                urllib.parse.parse_qsl(parts.query, keep_blank_values=True),
                {name.lower(): value for name, value in self.headers.items()},
            )
            status, headers, body = fake.answer(seen)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            if body is None:  # a page cut short: promise it all, send half, hang up
                whole = fake._json(fake._page(seen, fake.results[seen.path.rsplit("/", 1)[-1]]))
                self.send_header("Content-Length", str(len(whole)))
                self.end_headers()
                self.wfile.write(whole[: len(whole) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
