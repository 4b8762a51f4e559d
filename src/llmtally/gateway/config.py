"""Gateway routing: model name patterns -> upstreams, from ``llmtally.yaml``.

```yaml
upstreams:
  openai:    {kind: openai, base_url: https://api.openai.com, api_key_env: OPENAI_API_KEY}
  anthropic: {kind: anthropic, base_url: https://api.anthropic.com,
              api_key_env: ANTHROPIC_API_KEY}
  local:     {kind: openai, base_url: http://127.0.0.1:8081, provider: local}
routes:
  - {match: "claude-*", upstream: anthropic}
  - {match: "local/*", upstream: local, strip_prefix: true}
  - {match: "*", upstream: openai}
```

The first route whose shell-style pattern matches the requested model wins.
API keys are read from the named environment variable when a request is
forwarded; they are never stored or logged. A client's own ``Authorization``
/ ``x-api-key`` header is passed through when the upstream names no variable.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmtally.alerts.config import AlertsConfig
from llmtally.catalog.loader import CatalogFileError, load_yaml, validate
from llmtally.otel.export import OtlpExport

__all__ = [
    "BudgetSettings",
    "GatewayConfig",
    "LedgerSettings",
    "Route",
    "RouteError",
    "Upstream",
    "UpstreamKind",
    "load_config",
]

UpstreamKind = Literal["openai", "anthropic", "gemini", "azure"]
_DEFAULT_PROVIDER: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "google",
    "azure": "openai",
}


class RouteError(LookupError):
    """No route for a model; ``routable`` lists the patterns that exist."""

    def __init__(self, model: str, routable: list[str]) -> None:
        super().__init__(f"no route for model {model!r}; routable: {', '.join(routable)}")
        self.model, self.routable = model, routable


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Upstream(_Strict):
    kind: UpstreamKind
    base_url: str = Field(pattern=r"^https?://")
    api_key_env: str | None = None
    provider: str | None = None  # the catalog's provider id for pricing
    timeout_s: float = Field(default=600.0, gt=0)
    headers: dict[str, str] = {}
    # A machine of your own: price each call by the time it held it (see meter.time_cost).
    usd_per_hour: Decimal | None = Field(default=None, gt=0)
    # ``llmtally serve`` runs this upstream itself (the embedded local model).
    spawn: Literal["llama-cpp"] | None = None

    @property
    def price_provider(self) -> str:
        return self.provider or _DEFAULT_PROVIDER[self.kind]

    def api_key(self, environ: Mapping[str, str] = os.environ) -> str | None:
        return environ.get(self.api_key_env) if self.api_key_env else None


class Route(_Strict):
    match: str = Field(min_length=1)
    upstream: str
    strip_prefix: bool = False  # "local/smollm2" -> "smollm2" upstream

    def upstream_model(self, model: str) -> str:
        if self.strip_prefix and "/" in model:
            return model.split("/", 1)[1]
        return model


class BudgetSettings(_Strict):
    """How budgets behave (the budgets themselves are in the ledger: ``llmtally budgets``)."""

    # When the counters' database cannot be reached: refuse budgeted calls (503),
    # or let them through marked ``budget_unchecked``.
    on_store_down: Literal["refuse", "allow"] = "refuse"
    # A process that stops renewing its lease this long has its reservations released.
    lease_s: float = Field(default=30.0, ge=2)


class LedgerSettings(_Strict):
    """How ``llmtally serve`` records calls when things fail (docs/decisions.md,
    "Durability at the edges")."""

    # Each call fsync'd to the journal before its response completes: a crash
    # (SIGKILL, power loss) loses no answered call, at a cost per call.
    durable: bool = False
    # Calls held in memory while neither the database nor the spool takes them;
    # at this many the gateway refuses new calls (503 with Retry-After).
    max_held_calls: int = Field(default=10_000, gt=0)
    retry_after_s: int = Field(default=5, ge=1)
    # At exit with both down: retry this long, then write to a fallback file in
    # ``fallback_dir`` (default: the temporary folder, then /dev/shm).
    exit_retry_s: float = Field(default=5.0, ge=0)
    fallback_dir: Path | None = None
    # ``thread``: each serving process inserts from a thread of its own;
    # ``process``: it appends calls to the hand-over folder and one writer process
    # per ledger on the machine inserts them (llmtally.ledger.writer_process).
    writer: Literal["thread", "process"] = "thread"


class HttpLimits(_Strict):
    """What one connection may send before the gateway answers
    (``llmtally.gateway.http_limits``; docs/decisions.md)."""

    max_header_bytes: int = Field(default=64 * 1024, ge=1024)  # request line and headers
    max_headers: int = Field(default=100, ge=8)
    # From the connection (or a later request's first byte) to its last header
    header_timeout_s: float = Field(default=10.0, gt=0)
    keep_alive_s: int = Field(default=5, ge=1)  # idle between requests
    # The HTTP/1.1 server: uvicorn's httptools protocol with these limits, or the
    # lighter asyncio + httptools one (llmtally.gateway.server_raw; issue 16).
    server: Literal["uvicorn", "raw"] = "uvicorn"


class GatewayConfig(_Strict):
    upstreams: dict[str, Upstream] = {}
    routes: list[Route] = []
    max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    record_bodies: bool = True
    body_limit_bytes: int = Field(default=64 * 1024, ge=0)
    count_prompt_roles: bool = True  # system / tools / history / latest user tokens
    # Stored bodies: these regular expressions (on top of the built-in ones for API
    # keys) are replaced by "[redacted]" before a body is written to the ledger.
    redact: list[str] = []
    # Web pages: the Host names answered (None: the loopback names when listening on
    # loopback, any name otherwise) and the browser origins allowed to call the API.
    allowed_hosts: list[str] | None = None
    allowed_origins: list[str] = []
    http: HttpLimits = HttpLimits()  # header size, count and read time
    alerts: AlertsConfig = AlertsConfig()  # spend alerts and their webhooks (llmtally.alerts)
    ledger: LedgerSettings = LedgerSettings()
    # A client that goes away mid-stream: cancel the upstream request (stops the
    # spend), or read it to its end unseen (exact usage).
    client_disconnect: Literal["cancel", "finish"] = "cancel"
    budgets: BudgetSettings = BudgetSettings()
    # every recorded call as an OTLP span and metrics (llmtally.otel.export); off: None
    otel_export: OtlpExport | None = None
    # The HTTP client for upstreams: the light asyncio + httptools one
    # (llmtally.gateway.upstream_raw; issue 16, docs/decisions.md), or aiohttp's
    # session, kept as the fallback.
    upstream_client: Literal["aiohttp", "raw"] = "raw"

    @model_validator(mode="after")
    def _patterns_compile(self) -> GatewayConfig:
        for i, pattern in enumerate(self.redact):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"redact.{i}: not a regular expression: {exc}") from None
        return self

    @model_validator(mode="after")
    def _routes_name_upstreams(self) -> GatewayConfig:
        for i, route in enumerate(self.routes):
            if route.upstream not in self.upstreams:
                known = ", ".join(sorted(self.upstreams)) or "none"
                raise ValueError(
                    f"routes.{i}.upstream: {route.upstream!r} is not an upstream (known: {known})"
                )
        return self

    def route(self, model: str) -> tuple[Route, Upstream]:
        for route in self.routes:
            if fnmatch.fnmatchcase(model, route.match):
                return route, self.upstreams[route.upstream]
        raise RouteError(model, [r.match for r in self.routes])


def load_config(path: Path) -> GatewayConfig:
    """Read and validate a config file; errors name the file, line and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogFileError(f"{path}: cannot read the config ({exc.strerror})") from None
    data = load_yaml(text, str(path)) or {}
    if not isinstance(data, dict):
        raise CatalogFileError(f"{path}:1: a config file is a mapping (upstreams, routes, ...)")
    return validate(GatewayConfig, data, text, str(path))
