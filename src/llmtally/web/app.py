"""``Dashboard``: the web pages as one ASGI app (the gateway hands it every path
that is not an API path).

Routing, the admin-token gate and error pages live here; the pages themselves
are in ``pages``. Every request is handled on the dashboard's own small thread
pool, so a slow query never blocks the gateway's event loop, and bad input
always becomes a page that says what was wrong (400/404), never a 500.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from urllib.parse import quote, urlencode

from sqlalchemy.exc import SQLAlchemyError

from llmtally.alerts.config import AlertsConfig
from llmtally.analytics.filters import FilterError
from llmtally.catalog import Catalog
from llmtally.currency import NoRateError
from llmtally.ledger.store import Store
from llmtally.web.advice_pages import AdvicePages
from llmtally.web.alert_pages import AlertPages
from llmtally.web.auth import AdminAuth, safe_next
from llmtally.web.budget_pages import BudgetPages
from llmtally.web.http import HTTPError, Receive, Request, Response, Scope, Send, read_body
from llmtally.web.lab_pages import LabPages
from llmtally.web.money_view import page_currency
from llmtally.web.pages import Pages
from llmtally.web.reconcile_pages import ReconcilePages
from llmtally.web.render import Renderer
from llmtally.web.static import StaticFiles
from llmtally.web.throttle import LoginThrottle

__all__ = ["Dashboard"]

log = logging.getLogger(__name__)
WORKERS = 4
_PAGES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^/$"), "overview"),
    (re.compile(r"^/calls$"), "explorer"),
    (re.compile(r"^/calls/([^/]+)$"), "call"),
    (re.compile(r"^/traces/(.+)$"), "trace"),
    (re.compile(r"^/models$"), "models"),
)
# the pages whose money follows ?currency= and the currency setting
_MONEY_PAGES = re.compile(r"^/(calls(/[^/]+)?|traces/.+|budgets)?$")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Dashboard:
    """``Dashboard(store, catalog, admin_token)`` is an ASGI application.

    With an ``admin_token`` every page asks for it (``Authorization: Bearer``,
    or the cookie the ``/login`` form sets); without one, none does: the server
    must then listen on loopback only (``llmtally serve`` enforces that).
    """

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        admin_token: str | None = None,
        clock: Callable[[], dt.datetime] = _utc_now,
        static: StaticFiles | None = None,
        login_throttle: LoginThrottle | None = None,
        alerts: AlertsConfig | None = None,
        currency: str | None = None,
    ) -> None:
        self.currency = currency  # None: the setting (LLMTALLY_CURRENCY), else USD
        self.static = static or StaticFiles()
        self.render = Renderer(self.static)
        self.pages = Pages(store, catalog, self.render, clock)
        self.lab = LabPages(store, self.render)  # /lab and /lab/<run> (web/lab_pages.py)
        self.alerts = AlertPages(store, self.render, clock, alerts or AlertsConfig())  # /alerts
        self.budgets = BudgetPages(store, self.render, clock)  # /budgets (web/budget_pages.py)
        self.reconcile = ReconcilePages(store, catalog, self.render, clock)  # /reconcile
        self.advice = AdvicePages(store, catalog, self.render, clock)  # /advice
        self.auth = AdminAuth(admin_token, clock) if admin_token else None
        self.throttle = login_throttle or LoginThrottle()  # wrong tokens, per client address
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="llmtally-web")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # when served on its own
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            self.close()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        body, early = b"", None
        try:
            if scope["method"] == "POST":
                body = await read_body(receive)
        except HTTPError as exc:
            early = exc
        loop = asyncio.get_running_loop()
        secure = scope.get("scheme") == "https"
        response = await loop.run_in_executor(self._pool, self._handle, scope, body, early, secure)
        await response.send(send, head=scope["method"] == "HEAD")

    def _handle(self, scope: Scope, body: bytes, early: HTTPError | None, secure: bool) -> Response:
        try:
            if early is not None:
                raise early
            return self._route(Request.from_scope(scope, body), secure)
        except FilterError as exc:
            return self._error(HTTPError(400, str(exc)))
        except NoRateError as exc:
            message = f"Cannot show money in this currency: {exc}. Add a rate to the rates file."
            return self._error(HTTPError(400, message))
        except HTTPError as exc:
            return self._error(exc)
        except SQLAlchemyError:
            log.exception("dashboard: the ledger database failed")
            message = "The ledger database is not answering; see the server's log."
            return self._error(HTTPError(503, message))
        except Exception:  # a page that fails must still answer, and say so in the log
            log.exception("dashboard: %s %s failed", scope.get("method"), scope.get("path"))
            return self._error(HTTPError(500, "This page failed; see the server's log."))

    def _error(self, exc: HTTPError) -> Response:
        response = self.render.page(
            "error.html", status=exc.status, page="", title=exc.title, message=exc.message
        )
        if exc.status == 401:
            response.headers.append(("www-authenticate", 'Bearer realm="llmtally"'))
        return response

    def _route(self, request: Request, secure: bool) -> Response:
        path = request.path
        if path.startswith("/static/") or path == "/favicon.ico":
            return self._static(request)
        if path == "/login":
            return self._login(request, secure)
        if path == "/logout":
            return Response.redirect("/login", {"set-cookie": AdminAuth.clear_cookie()})
        refused = self._refused(request)
        if refused is not None:
            return refused
        if request.method not in ("GET", "HEAD"):
            raise HTTPError(405, f"{request.method} is not allowed here; the pages are read-only")
        if path != "/" and path.endswith("/"):
            return Response.redirect(path.rstrip("/") or "/")
        if _MONEY_PAGES.match(path):
            code, rest = page_currency(request.query, self.currency)
            request = replace(request, query=rest, currency=code)
        lab = (
            self.lab.route(request)
            or self.alerts.route(request)
            or self.budgets.route(request)
            or self.reconcile.route(request)
            or self.advice.route(request)
        )
        if lab is not None:
            return lab
        for pattern, name in _PAGES:
            found = pattern.match(path)
            if found:
                handler: Callable[..., Response] = getattr(self.pages, name)
                return handler(request, *found.groups())
        raise HTTPError(404, f"There is no page at {path}.")

    def _refused(self, request: Request) -> Response | None:
        if self.auth is None:
            return None
        verdict = self.auth.verdict(request)
        bearer = request.headers.get("authorization", "").partition(" ")[0].lower() == "bearer"
        if bearer and (waiting := self._throttled(request)) is not None:
            return waiting  # a guess, right or wrong, waits (a session cookie does not)
        if verdict == "ok":
            return None
        if verdict == "wrong":
            self.throttle.failed(request.client)
            raise HTTPError(401, "That bearer token is not the dashboard's admin token.")
        target = request.path + (f"?{urlencode(request.query)}" if request.query else "")
        return Response.redirect(f"/login?next={quote(target, safe='')}")

    def _throttled(self, request: Request) -> Response | None:
        """429 with Retry-After while this client address has too many wrong tokens."""
        wait = self.throttle.retry_after(request.client)
        if wait is None:
            return None
        message = f"Too many wrong admin tokens from your address; try again in {wait} s."
        response = self._error(HTTPError(429, message))
        response.headers.append(("retry-after", str(wait)))
        return response

    def _static(self, request: Request) -> Response:
        name = "favicon.svg" if request.path == "/favicon.ico" else request.path[len("/static/") :]
        found = self.static.response(
            name, request.query.get("v"), request.headers.get("accept-encoding", "")
        )
        if found is None:
            raise HTTPError(404, f"There is no file {name!r}.")
        return found

    def _login(self, request: Request, secure: bool) -> Response:
        if self.auth is None:
            return Response.redirect("/")
        if request.method == "POST":
            form = request.form()
            target = safe_next(form.get("next"))
            waiting = self._throttled(request)
            if waiting is not None:
                return waiting
            if self.auth.matches(form.get("token", "")):
                self.throttle.succeeded(request.client)
                cookie = self.auth.session_cookie(secure)
                return Response.redirect(target, {"set-cookie": cookie})
            self.throttle.failed(request.client)
            return self.render.page("login.html", status=401, page="", next=target, failed=True)
        if request.method not in ("GET", "HEAD"):
            raise HTTPError(405, "log in with the form at /login")
        target = safe_next(request.query.get("next"))
        return self.render.page("login.html", page="", next=target, failed=False)
