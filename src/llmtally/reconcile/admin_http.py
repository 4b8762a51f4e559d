"""One GET against a provider's admin API, with the failures a reconcile fetch meets.

Why its own module: the admin endpoints are called with an organization-wide key,
so the rules here are stricter than an SDK's. Redirects are refused (urllib would
carry the key's header to wherever a 3xx points); the key is never part of a
message (it is masked in anything the API sends back); plain ``http://`` is
allowed only to this machine (the tests' fakes). Rate limits are waited out
(``retry-after-ms`` / ``retry-after``, else exponential backoff with a cap), 5xx
and dropped connections are retried a few times, all under one deadline; 401/403
stop at once with what key and permission the provider needs.
"""

from __future__ import annotations

import http.client
import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmtally.json_depth import nests_deeper

__all__ = [
    "AdminAPIError",
    "AuthError",
    "AuthHelp",
    "Client",
    "FetchError",
    "Limits",
    "check_base_url",
]

_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class FetchError(Exception):
    """A fetch that could not finish; the message says why and what to do.
    ``summary`` is what the run stored before it (set by the fetch loop)."""

    summary: Any = None


class AuthError(FetchError):
    """401/403: the admin key is missing, expired, revoked or not an admin key."""


class AdminAPIError(FetchError):
    """Another 4xx: the API refused the request; the message is the API's own."""


@dataclass(frozen=True, slots=True)
class Limits:
    """How patient and how trusting one run is. ``backoff_base`` is small in tests."""

    backoff_base: float = 1.0  # seconds: the first wait with no retry-after header
    backoff_cap: float = 60.0  # no single wait longer than this
    deadline: float = 600.0  # seconds of waiting and calling for one run, all told
    retries: int = 5  # 5xx and dropped connections, per request
    timeout: float = 60.0  # one socket operation
    max_body: int = 16 * 1024 * 1024  # bytes of one page
    max_depth: int = 16  # JSON nesting of one page (a page nests 7 deep, values included)


@dataclass(frozen=True, slots=True)
class AuthHelp:
    """What a 401/403 tells the user: the variable and the permission."""

    env: str
    permission: str


def check_base_url(url: str) -> str:
    """The base URL without a trailing slash; https, or http to this machine only
    (an admin key is never sent in clear over a network)."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return url.rstrip("/")
    if parts.scheme == "http" and host in _LOCAL_HOSTS:
        return url.rstrip("/")
    raise FetchError(f"base URL {url!r}: use https:// (plain http:// only to localhost, for tests)")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx surfaces as an HTTPError: the key goes nowhere else


class Client:
    """GETs JSON pages from one provider's admin API with one key."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        secret: str,
        auth: AuthHelp,
        limits: Limits,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self._headers = dict(headers)
        self._secret = secret
        self._auth = auth
        self.limits = limits
        self._sleep = sleep
        self._clock = clock
        self._deadline = clock() + limits.deadline
        self._opener = urllib.request.build_opener(_NoRedirect)
        self.requests = 0  # attempts, retries included
        self.waited = 0.0  # seconds slept for rate limits and retries

    def get(self, path: str, query: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """The JSON object at ``path?query``, after waiting out 429s and retrying
        5xx and dropped connections; a :class:`FetchError` when it cannot be had."""
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(list(query))}"
        failures = refusals = 0  # failures count against the retries; both back off
        while True:
            outcome = self._attempt(url)
            if isinstance(outcome, dict):
                return outcome
            wait, reason, counts = outcome
            failures += counts
            refusals += 1
            if failures > self.limits.retries:
                raise FetchError(f"{path}: {reason}, {failures} times; run again to resume")
            self._wait(wait if wait is not None else self._backoff(refusals), path, reason)

    def _attempt(self, url: str) -> dict[str, Any] | tuple[float | None, str, int]:
        """One request: the page, or (wait from the server, reason, counts as a failure)."""
        request = urllib.request.Request(url, headers=self._headers, method="GET")
        self.requests += 1
        try:
            timeout = max(0.1, min(self.limits.timeout, self._left()))
            with self._opener.open(request, timeout=timeout) as response:
                body = _read(response, self.limits.max_body)
                if len(body) < _declared_length(response):
                    return None, "connection cut mid-page", 1
                return self._page(body)
        except urllib.error.HTTPError as exc:
            with exc:
                return self._refused(exc)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            return None, f"connection failed ({_network_reason(exc)})", 1

    def _refused(self, exc: urllib.error.HTTPError) -> tuple[float | None, str, int]:
        status = exc.code
        try:
            body = _read(exc, 64 * 1024)
        except (OSError, http.client.HTTPException, FetchError):
            body = b""
        if status == 429:
            # a rate limit is not a failure of the server: waits are bounded by the
            # deadline, not by the retry count
            return _retry_after(exc.headers), "rate limited (429)", 0
        if status >= 500:
            return _retry_after(exc.headers), f"server error {status}", 1
        if status < 400:
            raise AdminAPIError(
                f"{status}: the API redirected; not followed (the admin key is sent "
                "to the configured base URL only)"
            )
        message = self._mask(_api_message(body))
        if status in (401, 403):
            raise AuthError(
                f"{status}: the admin key in {self._auth.env} was refused "
                f"({message or 'no reason given'}). It must be {self._auth.permission}; "
                "an expired, revoked or ordinary API key is refused."
            )
        raise AdminAPIError(f"{status}: {message or 'the API gave no reason'}")

    def _page(self, body: bytes) -> dict[str, Any]:
        try:
            page = json.loads(body)
        except (ValueError, RecursionError):
            raise FetchError("the API answered with something that is not JSON") from None
        if nests_deeper(page, self.limits.max_depth):
            raise FetchError(f"the API's page nests deeper than {self.limits.max_depth} levels")
        if not isinstance(page, dict):
            raise FetchError("the API's page is not a JSON object")
        return page

    def _backoff(self, refusals: int) -> float:
        """base x 2^(n-1), less up to 20% (clients do not retry in step), capped."""
        wait = self.limits.backoff_base * 2 ** min(30, max(0, refusals - 1))
        return float(min(self.limits.backoff_cap, wait * random.uniform(0.8, 1.0)))

    def _wait(self, seconds: float, path: str, reason: str) -> None:
        """Sleep ``seconds``: the server's own retry-after in full (the cap is the
        backoff's), unless that would pass the run's deadline."""
        seconds = max(0.0, seconds)
        if seconds >= self._left():
            raise FetchError(
                f"{path}: {reason}; waiting {seconds:.0f}s more would pass the run's "
                f"{self.limits.deadline:.0f}s deadline; run again later to resume"
            )
        self.waited += seconds
        self._sleep(seconds)

    def _left(self) -> float:
        return self._deadline - self._clock()

    def _mask(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text


def _read(response: Any, limit: int) -> bytes:
    body: bytes = response.read(limit + 1)
    if len(body) > limit:
        raise FetchError(f"the API's answer is larger than {limit:,} bytes")
    return body


def _declared_length(response: Any) -> int:
    """Content-Length, or 0: http.client's ``read(n)`` returns a body cut short by a
    closed connection without complaint, so the length is checked here."""
    try:
        return max(0, int(response.headers.get("Content-Length") or 0))
    except ValueError:
        return 0


def _retry_after(headers: Any) -> float | None:
    """``retry-after-ms`` (OpenAI), else ``retry-after`` in seconds; an HTTP date or
    garbage is ignored (the backoff applies)."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name) if headers is not None else None
        if value is None:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            continue
        if seconds >= 0 and seconds == seconds:  # not NaN
            return seconds
    return None


def _api_message(body: bytes) -> str:
    """The error's own words: ``{"error": {"message": ...}}`` (both providers)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return body[:200].decode("utf-8", "replace").strip()
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if isinstance(message, str):
        return message[:300]
    return ""


def _network_reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc or type(exc).__name__)[:200]
