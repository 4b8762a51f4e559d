"""AWS Signature Version 4, as the gateway signs its calls to Bedrock.

https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html:
a canonical request (method, URI, query, the signed headers, the payload's
SHA-256), a string to sign naming the credential scope
(``DATE/REGION/SERVICE/aws4_request``), a signing key derived from the secret
by four HMAC-SHA256 steps, and the ``Authorization`` header that carries the
access key id, the signed header names and the signature. As every AWS service
but S3 does, the URI's path is percent-encoded once more for the canonical
request (Bedrock model ids carry ``:``, which the path already holds as ``%3A``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

__all__ = ["ALGORITHM", "AwsCredentials", "credentials_from", "sign_request", "signing_key"]

ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never the secret
        return f"AwsCredentials(access_key_id={self.access_key_id!r}, ...)"


def credentials_from(
    environ: Mapping[str, str], key_id_env: str, secret_env: str, token_env: str
) -> AwsCredentials | None:
    """Credentials from these environment variables; None unless both keys are set."""
    key_id, secret = environ.get(key_id_env), environ.get(secret_env)
    if not key_id or not secret:
        return None
    return AwsCredentials(key_id, secret, environ.get(token_env) or None)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")."""
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    return _hmac(_hmac(_hmac(key, region), service), "aws4_request")


def _host(url: str) -> str:
    # as both upstream clients send it: the URL's host and port, as written there
    return urlsplit(url).netloc


def _canonical_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _canonical_request(
    method: str, url: str, headers: Mapping[str, str], names: list[str], payload_hash: str
) -> str:
    parts = urlsplit(url)
    path = quote(parts.path or "/", safe="/~")
    lines = "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in names)
    query = _canonical_query(parts.query)
    return "\n".join([method, path, query, lines, ";".join(names), payload_hash])


def sign_request(
    method: str,
    url: str,
    headers: MutableMapping[str, str],
    body: bytes,
    credentials: AwsCredentials,
    region: str,
    service: str,
    now: dt.datetime | None = None,
) -> str:
    """Add ``host``, ``x-amz-date`` (and ``x-amz-security-token``) and the
    ``authorization`` header to ``headers`` (lower-case names); every header
    present is signed. Returns the signature."""
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    headers["host"] = _host(url)
    headers["x-amz-date"] = stamp
    if credentials.session_token:
        headers["x-amz-security-token"] = credentials.session_token
    headers.pop("authorization", None)
    names = sorted(headers)
    payload_hash = hashlib.sha256(body).hexdigest()
    canonical = _canonical_request(method, url, headers, names, payload_hash)
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    to_sign = "\n".join([ALGORITHM, stamp, scope, digest])
    key = signing_key(credentials.secret_access_key, stamp[:8], region, service)
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope},"
        f" SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return signature
