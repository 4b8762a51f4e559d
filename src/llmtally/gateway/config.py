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

Known hosts (:mod:`llmtally.gateway.known_hosts`) can be named instead of
spelled out: ``qwen: {preset: dashscope, api_key_env: DASHSCOPE_API_KEY}``. An
OpenAI-kind ``base_url`` that ends in a version (``/v1``, ``/api/paas/v4``,
``/api/v3``) is the API's root, as the OpenAI SDK's ``base_url`` is:
``/v1/chat/completions`` goes to ``{base_url}/chat/completions``.

Azure OpenAI (``kind: azure``) names its deployments, each with the model it
serves and its deployment type, which picks the price (global ``azure``, data
zone ``azure-datazone``, regional ``azure-regional``); AWS Bedrock
(``kind: bedrock``) signs each call with the gateway's own AWS credentials,
read from the environment variables ``aws`` names (docs/gateway-providers.md).
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
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmtally.alerts.config import AlertsConfig
from llmtally.catalog.loader import CatalogFileError, load_yaml, validate
from llmtally.gateway.known_hosts import KNOWN_HOSTS, provider_for_url
from llmtally.otel.export import OtlpExport

__all__ = [
    "AZURE_PROVIDERS",
    "AwsSigning",
    "AzureDeployment",
    "BudgetSettings",
    "GatewayConfig",
    "LedgerSettings",
    "Route",
    "RouteError",
    "Upstream",
    "UpstreamKind",
    "load_config",
]

UpstreamKind = Literal["openai", "anthropic", "gemini", "azure", "bedrock"]
_DEFAULT_PROVIDER: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "google",
    "azure": "azure",
    "bedrock": "bedrock",
}
# An Azure deployment's type -> the provider id that prices it (issue 17)
AZURE_PROVIDERS: dict[str, str] = {
    "global": "azure",
    "datazone": "azure-datazone",
    "regional": "azure-regional",
}
# A base URL ending in an API version: the root the wire's /v1 stands for
_VERSIONED = re.compile(r"/v\d+$")
_AWS_REGION = re.compile(r"bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com")


class RouteError(LookupError):
    """No route for a model; ``routable`` lists the patterns that exist."""

    def __init__(self, model: str, routable: list[str]) -> None:
        super().__init__(f"no route for model {model!r}; routable: {', '.join(routable)}")
        self.model, self.routable = model, routable


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AzureDeployment(_Strict):
    """One Azure OpenAI deployment: the model it serves and how it is deployed."""

    model: str = Field(min_length=1, max_length=200)
    type: Literal["global", "datazone", "regional"] = "global"

    @property
    def provider(self) -> str:
        return AZURE_PROVIDERS[self.type]


class AwsSigning(_Strict):
    """Where a Bedrock upstream's AWS credentials come from (environment variables,
    read when a call is signed), and its region (else read from the base URL)."""

    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")
    access_key_id_env: str = "AWS_ACCESS_KEY_ID"
    secret_access_key_env: str = "AWS_SECRET_ACCESS_KEY"
    session_token_env: str = "AWS_SESSION_TOKEN"


class Upstream(_Strict):
    preset: str | None = None  # a known host's name (gateway.known_hosts)
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
    # kind azure: deployment name -> its model and type
    deployments: dict[str, AzureDeployment] = {}
    # kind bedrock: the credentials it signs with
    aws: AwsSigning | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_host(cls, data: object) -> object:
        """A preset's kind, base URL and provider; a known host's provider."""
        if not isinstance(data, dict):
            return data
        name = data.get("preset")
        if name is not None:
            known = KNOWN_HOSTS.get(name) if isinstance(name, str) else None
            if known is None:
                names = ", ".join(sorted(KNOWN_HOSTS))
                raise ValueError(f"preset: {name!r} is not a known upstream (known: {names})")
            defaults = {"kind": known.kind, "base_url": known.base_url}
            data = {**defaults, "provider": known.provider, **data}
        url = data.get("base_url")
        if data.get("provider") is None and isinstance(url, str):
            found = provider_for_url(url)
            if found is not None:
                data = {**data, "provider": found}
        return data

    @model_validator(mode="after")
    def _kind_fields(self) -> Upstream:
        if self.deployments and self.kind != "azure":
            raise ValueError(f"deployments: only an azure upstream has them, not {self.kind}")
        if self.aws is not None and self.kind != "bedrock":
            raise ValueError(f"aws: only a bedrock upstream signs with AWS keys, not {self.kind}")
        if self.kind == "bedrock" and self.region is None:
            raise ValueError(
                "aws.region: a bedrock upstream needs its region (e.g. us-east-1) when the"
                " base_url is not https://bedrock-runtime.REGION.amazonaws.com"
            )
        return self

    @cached_property
    def api_root(self) -> tuple[str, str | None]:
        """What a wire's path is appended to, and the version that stands for its
        ``/v1`` (``/v4``, ``/v3``; None: the path as it is). Worked out once: a
        cached property, read from the instance's dict (a pydantic private
        attribute costs microseconds a read)."""
        base = self.base_url.rstrip("/")
        found = _VERSIONED.search(base) if self.kind in ("openai", "azure") else None
        if found is None:
            return base, None
        # /v1 as it is: the wire's own prefix; /v4, /v3: in its place
        return base[: found.start()], None if found.group() == "/v1" else found.group()

    def url(self, path: str) -> str:
        """The upstream URL of ``path`` (a wire's upstream path, query included)."""
        origin, version = self.api_root
        if version is not None and path.startswith("/v1/"):
            return origin + version + path[3:]
        return origin + path

    @property
    def origin(self) -> str:
        """scheme://host[:port] of the base URL (Azure's and Bedrock's paths start there)."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def region(self) -> str | None:
        """A bedrock upstream's AWS region: configured, else read from its host."""
        if self.aws is not None and self.aws.region is not None:
            return self.aws.region
        found = _AWS_REGION.search(urlsplit(self.base_url).hostname or "")
        return found.group(1) if found else None

    @property
    def signing(self) -> AwsSigning:
        return self.aws or AwsSigning()

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

    @model_validator(mode="after")
    def _deployments_once(self) -> GatewayConfig:
        seen: dict[str, str] = {}
        for name, upstream in self.upstreams.items():
            for deployment in upstream.deployments:
                if deployment in seen:
                    raise ValueError(
                        f"upstreams.{name}.deployments: {deployment!r} is named by"
                        f" upstreams.{seen[deployment]} too; a deployment name routes one way"
                    )
                seen[deployment] = name
        return self

    def deployment(self, name: str) -> tuple[Upstream, AzureDeployment | None]:
        """The Azure upstream serving deployment ``name`` (the one that lists it,
        else the first route matching the name), and its listing if it has one."""
        for upstream in self.upstreams.values():
            if name in upstream.deployments:
                return upstream, upstream.deployments[name]
        return self.route(name)[1], None

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
