"""The clouds' own API paths: Azure OpenAI deployment URLs and AWS Bedrock Converse.

- Azure OpenAI (https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference):
  ``POST /openai/deployments/{deployment}/chat/completions?api-version=...``
  (and ``/embeddings``), and the v1 API's ``POST /openai/v1/chat/completions``
  (``/embeddings``, ``/responses``) whose body's ``model`` names the deployment.
  Both speak OpenAI's wires; the deployment routes the call
  (:meth:`~llmtally.gateway.config.GatewayConfig.deployment`) and its listing
  names the model and the provider id that prices it. The path goes upstream as
  it came, on the upstream's origin; the key goes in ``api-key`` (an Entra
  ``Authorization: Bearer`` token is passed on as it came).
- Bedrock Converse (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html):
  ``POST /model/{modelId}/converse``; the model id routes the call like any
  model name, and the gateway signs the upstream request with its own AWS
  credentials (:mod:`llmtally.gateway.sigv4`), or passes a Bedrock API key as a
  bearer token. ConverseStream (``/converse-stream``) is relayed byte for byte
  and its AWS event-stream messages watched for the usage
  (:mod:`llmtally.providers.streams_bedrock`).

Nothing here runs for the other wires' paths: the gateway asks only when
:func:`~llmtally.providers.wires.wire_for_path` knows no wire for a path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, unquote

from llmtally.gateway.config import GatewayConfig, RouteError, Upstream
from llmtally.gateway.sigv4 import credentials_from, sign_request
from llmtally.providers.wires import (
    BEDROCK_CONVERSE,
    OPENAI_CHAT,
    OPENAI_EMBEDDINGS,
    OPENAI_RESPONSES,
    Wire,
)

__all__ = ["CloudPath", "Refusal", "Signer", "Target", "cloud_path", "resolve"]

_AZURE_DEPLOYMENT = re.compile(r"^/openai/deployments/([^/]{1,256})/(chat/completions|embeddings)$")
_AZURE_V1 = re.compile(r"^/openai/v1/(chat/completions|embeddings|responses)$")
_BEDROCK = re.compile(rb"^/model/([^/]{1,2048})/(converse|converse-stream)$")
_AZURE_WIRES = {
    "chat/completions": OPENAI_CHAT,
    "embeddings": OPENAI_EMBEDDINGS,
    "responses": OPENAI_RESPONSES,
}
_MODEL_ID = re.compile(r"^[\x21-\x7e]{1,2048}$")  # printable ASCII, no spaces
# (headers, url, body) -> the signature added to the headers
Signer = Callable[[MutableMapping[str, str], str, bytes], str]


@dataclass(frozen=True, slots=True)
class CloudPath:
    """A path of a cloud's own API: its wire and the name it carries."""

    cloud: Literal["azure", "bedrock"]
    wire: Wire
    name: str | None  # the Azure deployment, or the Bedrock model id; None: in the body
    stream: bool = False  # Bedrock ConverseStream

    def streams(self, request: Mapping[str, Any]) -> bool:
        """Whether the call streams: Bedrock's path says so, OpenAI's body does."""
        if self.cloud == "bedrock":
            return self.stream
        return request.get("stream") is True and self.wire.stream is not None


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    message: str


@dataclass(frozen=True, slots=True)
class Target:
    """Where a cloud call goes and what prices it."""

    model: str  # the model requested (an Azure deployment's model; the Bedrock model id)
    upstream: Upstream
    path: str  # on the upstream's origin
    provider: str
    sign: Signer | None = None
    secrets: tuple[str, ...] = ()  # never stored in any text of the call


def cloud_path(path: str, raw_path: bytes | None) -> CloudPath | None:
    """The cloud path ``path`` is (``raw_path``: as sent, still percent-encoded), or None."""
    if path.startswith("/openai/"):
        found = _AZURE_DEPLOYMENT.match(path)
        if found is not None:
            return CloudPath("azure", _AZURE_WIRES[found.group(2)], found.group(1))
        v1 = _AZURE_V1.match(path)
        return CloudPath("azure", _AZURE_WIRES[v1.group(1)], None) if v1 else None
    if path.startswith("/model/"):
        raw = raw_path if raw_path is not None else path.encode("utf-8")
        bedrock = _BEDROCK.match(raw.split(b"?", 1)[0])
        if bedrock is None:
            return None
        name = unquote(bedrock.group(1).decode("latin-1"))
        return CloudPath("bedrock", BEDROCK_CONVERSE, name, bedrock.group(2) == b"converse-stream")
    return None


def resolve(config: GatewayConfig, where: CloudPath, request: Mapping[str, Any],
            headers: Mapping[str, str]) -> Target | Refusal:  # fmt: skip
    """The upstream, path and provider of a cloud call, or why it is refused."""
    if where.cloud == "azure":
        return _azure(config, where, request)
    return _bedrock(config, where, headers)


def _azure(config: GatewayConfig, where: CloudPath, request: Mapping[str, Any]) -> Target | Refusal:
    name = where.name
    if name is None:
        model = request.get("model")
        if not isinstance(model, str) or not model or len(model) > 256:
            return Refusal(
                400, "the request has no 'model' (the v1 API names the deployment there)"
            )
        name = model
    try:
        upstream, listed = config.deployment(name)
    except RouteError as exc:
        return Refusal(
            404, f"no route for deployment {name!r}; routable: {', '.join(exc.routable)}"
        )
    if upstream.kind != "azure":
        return Refusal(
            404, f"deployment {name!r} routes to a {upstream.kind} upstream, not an azure one"
        )
    path = (
        f"/openai/deployments/{quote(name, safe='')}/{_tail(where.wire)}"
        if where.name is not None
        else f"/openai/v1/{_tail(where.wire)}"
    )
    if listed is None:
        return Target(name, upstream, path, upstream.price_provider)
    return Target(listed.model, upstream, path, listed.provider)


def _tail(wire: Wire) -> str:
    return next(tail for tail, known in _AZURE_WIRES.items() if known is wire)


def _bedrock(
    config: GatewayConfig, where: CloudPath, headers: Mapping[str, str]
) -> Target | Refusal:
    name = where.name or ""
    if _MODEL_ID.match(name) is None:
        return Refusal(400, "the model id in the path must be 1 to 2048 printable characters")
    try:
        route, upstream = config.route(name)
    except RouteError as exc:
        return Refusal(404, str(exc))
    if upstream.kind != "bedrock":
        return Refusal(404, f"{name} routes to a {upstream.kind} upstream, not a bedrock one")
    action = "converse-stream" if where.stream else "converse"
    path = f"/model/{quote(route.upstream_model(name), safe='')}/{action}"
    if upstream.api_key() or headers.get("authorization", "").startswith("Bearer "):
        return Target(name, upstream, path, upstream.price_provider)  # a Bedrock API key
    return _signed(name, upstream, path)


def _signed(name: str, upstream: Upstream, path: str) -> Target | Refusal:
    aws = upstream.signing
    credentials = credentials_from(
        os.environ, aws.access_key_id_env, aws.secret_access_key_env, aws.session_token_env
    )
    region = upstream.region
    if credentials is None or region is None:
        return Refusal(
            500,
            f"the gateway has no AWS credentials to sign calls to {upstream.origin}: set"
            f" {aws.access_key_id_env} and {aws.secret_access_key_env} where it runs",
        )

    def sign(headers: MutableMapping[str, str], url: str, body: bytes) -> str:
        return sign_request("POST", url, headers, body, credentials, region, "bedrock")

    hidden = (credentials.secret_access_key, credentials.session_token or "")
    return Target(name, upstream, path, upstream.price_provider, sign, hidden)
