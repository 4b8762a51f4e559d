"""The dashboard's admin token: a bearer header, or a login form that sets a cookie.

The cookie never holds the token: it holds an expiry and an HMAC of it keyed by
the token, so it is worthless once the token changes or it expires, and it is
``HttpOnly; SameSite=Strict``. Every comparison is ``hmac.compare_digest``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from typing import Literal

from llmtally.web.http import Request

__all__ = [
    "ADMIN_TOKEN_ENV",
    "COOKIE",
    "MIN_TOKEN_LENGTH",
    "SESSION_HOURS",
    "AdminAuth",
    "Verdict",
    "admin_token",
    "safe_next",
]

ADMIN_TOKEN_ENV = "LLMTALLY_ADMIN_TOKEN"
MIN_TOKEN_LENGTH = 16
COOKIE = "llmtally_admin"
SESSION_HOURS = 12
Verdict = Literal["ok", "missing", "wrong"]


def admin_token(arg: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    """The admin token: ``--admin-token``, else ``$LLMTALLY_ADMIN_TOKEN``, else none.
    ValueError for one too short to resist guessing."""
    env = os.environ if env is None else env
    token = arg or env.get(ADMIN_TOKEN_ENV) or None
    if token is not None and len(token.strip()) < MIN_TOKEN_LENGTH:
        raise ValueError(
            f"the admin token must be at least {MIN_TOKEN_LENGTH} characters; make one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return None if token is None else token.strip()


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this server, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    # Browsers drop tabs and newlines from URLs: "/\t/evil.example" would become "//evil...".
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        return "/"
    return target


class AdminAuth:
    """Checks requests against one admin token."""

    def __init__(
        self, token: str, clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    ) -> None:
        self._token = token.encode()
        self._clock = clock

    def _signature(self, expires: int) -> str:
        message = f"llmtally dashboard session until {expires}".encode()
        return hmac.new(self._token, message, hashlib.sha256).hexdigest()

    def verdict(self, request: Request) -> Verdict:
        """``ok``; ``wrong`` for a bearer token that is not the admin token;
        ``missing`` when neither a bearer token nor a valid session cookie came."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return "ok" if self.matches(value.strip()) else "wrong"
        session = request.cookies.get(COOKIE)
        if session is not None and self._valid_session(session):
            return "ok"
        return "missing"

    def matches(self, submitted: str) -> bool:
        return hmac.compare_digest(submitted.encode(), self._token)

    def _valid_session(self, session: str) -> bool:
        expires, _, signature = session.partition(".")
        if not expires.isdigit() or int(expires) <= self._clock().timestamp():
            return False
        return hmac.compare_digest(signature.encode(), self._signature(int(expires)).encode())

    def session_cookie(self, secure: bool) -> str:
        """A ``Set-Cookie`` value for a session of ``SESSION_HOURS``."""
        expires = int(self._clock().timestamp()) + SESSION_HOURS * 3600
        value = f"{expires}.{self._signature(expires)}"
        flags = "; Secure" if secure else ""
        return (
            f"{COOKIE}={value}; Path=/; Max-Age={SESSION_HOURS * 3600}; "
            f"HttpOnly; SameSite=Strict{flags}"
        )

    @staticmethod
    def clear_cookie() -> str:
        return f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
