"""AWS Bedrock Converse through the gateway (issue 17), with the official boto3
``bedrock-runtime`` client pointed at it, into a real SQLite ledger.

The client signs its request with its own (throwaway) AWS keys; the gateway
re-signs the upstream request with the keys it is configured with, and the
local upstream checks that signature with botocore's own SigV4 signer before it
replays a Converse response in the shape of the API reference
(https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html;
the counts are composed in that shape). Tokens, provider and model are asserted
here; the costs at bedrock.yaml's rates are in tests/test_wires_costs.py.

The SigV4 signer is also checked against AWS's published example
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html,
and the "derive a signing key" example of the same guide).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from gateway_support import ListRecorder, live_gateway
from llmtally.catalog import Catalog
from llmtally.gateway.config import GatewayConfig
from llmtally.gateway.http_limits import refusal_bytes
from llmtally.gateway.sigv4 import AwsCredentials, sign_request, signing_key
from llmtally.ledger import LedgerWriter, open_store
from llmtally.providers.streams_bedrock import MAX_MESSAGE_BYTES, BedrockConverseStream

CONVERSE = "https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html"
MODEL = "anthropic.claude-3-5-sonnet-20241022-v2:0"
PROFILE = "us.anthropic.claude-sonnet-4-20250514-v1:0"
# the gateway's own keys (from its environment) and the client's (never sent upstream)
GATEWAY_KEY_ID, GATEWAY_SECRET = "AKIAGATEWAYEXAMPLE01", "gateway/Secret+Key/For/Tests/0123456789"
CLIENT_KEY_ID, CLIENT_SECRET = "AKIACLIENTEXAMPLE001", "client/Secret+Key/For/Tests/9876543210"
MESSAGES: Any = [{"role": "user", "content": [{"text": "Say hello."}]}]

# CONVERSE, "Response Syntax", one reply per model id. Read by hand:
# MODEL: 25 uncached input tokens + 1500 read from the cache + 500 written to it,
#        180 output tokens (totalTokens 2205 = 25 + 180 + 1500 + 500);
# PROFILE: 12 input tokens, 40 output tokens, no cache.
REPLIES: dict[str, dict[str, Any]] = {
    MODEL: {
        "output": {"message": {"role": "assistant", "content": [{"text": "Hello!"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 25, "outputTokens": 180, "totalTokens": 2205,
                  "cacheReadInputTokens": 1500, "cacheWriteInputTokens": 500},
        "metrics": {"latencyMs": 812},
    },
    PROFILE: {
        "output": {"message": {"role": "assistant", "content": [{"text": "Hi."}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 12, "outputTokens": 40, "totalTokens": 52},
        "metrics": {"latencyMs": 301},
    },
}  # fmt: skip


# https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html,
# "Response Syntax": the events in order. Read by hand: 30 uncached input tokens, 2048
# read from the cache (totalTokens 2173 = 30 + 2048 + 95), 95 output tokens.
STREAM: list[tuple[str, dict[str, Any]]] = [
    ("messageStart", {"role": "assistant"}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hel"}}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "lo!"}}),
    ("contentBlockStop", {"contentBlockIndex": 0}),
    ("messageStop", {"stopReason": "end_turn"}),
    ("metadata", {"usage": {"inputTokens": 30, "outputTokens": 95, "totalTokens": 2173,
                            "cacheReadInputTokens": 2048},
                  "metrics": {"latencyMs": 640}}),
]  # fmt: skip


def _header(name: str, value: str) -> bytes:
    """An event-stream string header: name length, name, type 7, value length, value."""
    raw = value.encode()
    return bytes([len(name)]) + name.encode() + b"\x07" + len(raw).to_bytes(2, "big") + raw


def event_message(event: str, payload: dict[str, Any]) -> bytes:
    """One AWS event-stream message: prelude (total and header lengths, their CRC32),
    headers, payload, CRC32 of everything before it (all big-endian)."""
    headers = b"".join(
        _header(name, value)
        for name, value in (
            (":event-type", event),
            (":content-type", "application/json"),
            (":message-type", "event"),
        )
    )
    body = json.dumps(payload).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = total.to_bytes(4, "big") + len(headers).to_bytes(4, "big")
    prelude += zlib.crc32(prelude).to_bytes(4, "big")
    message = prelude + headers + body
    return message + zlib.crc32(message).to_bytes(4, "big")


@dataclasses.dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool


class BedrockReplay:
    """A local Bedrock runtime: checks each request's SigV4 signature (with the
    gateway's keys, by botocore) and answers Converse from REPLIES; with
    ``echo_auth`` it answers 403 repeating the Authorization header it got."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.echo_auth = False
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                owner.answer(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> BedrockReplay:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        ok = _signature_ok(handler.path, headers, body, self.url)
        self.seen.append(Seen(handler.path, headers, body, ok))
        model = handler.path.split("/")[2].replace("%3A", ":")
        if self.echo_auth:
            reply, status, kind = {"message": headers.get("authorization", "")}, 403, "x"
        elif not ok:
            reply = {"message": "The request signature we calculated does not match."}
            status, kind = 403, "InvalidSignatureException"
        else:
            reply, status, kind = REPLIES[model], 200, ""
        streamed = handler.path.endswith("/converse-stream") and status == 200
        data = (
            b"".join(event_message(name, payload) for name, payload in STREAM)
            if streamed
            else json.dumps(reply).encode()
        )
        handler.send_response(status)
        content_type = "application/vnd.amazon.eventstream" if streamed else "application/json"
        handler.send_header("content-type", content_type)
        handler.send_header("content-length", str(len(data)))
        if kind:
            handler.send_header("x-amzn-ErrorType", f"{kind}:http://internal.amazon.com/coral/")
        handler.end_headers()
        handler.wfile.write(data)


def _signature_ok(path: str, headers: dict[str, str], body: bytes, url: str) -> bool:
    """What AWS does: recompute the signature over the headers the request says it
    signed, with the keys its credential names (botocore's signer, not llmtally's)."""
    auth = headers.get("authorization", "")
    fields = dict(part.strip().split("=", 1) for part in auth.split(" ", 1)[-1].split(","))
    if not auth.startswith("AWS4-HMAC-SHA256 ") or not fields["Credential"].startswith(
        GATEWAY_KEY_ID + "/"
    ):
        return False
    signed = fields["SignedHeaders"].split(";")
    request = AWSRequest("POST", url + path, {n: headers[n] for n in signed}, body)
    request.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(Credentials(GATEWAY_KEY_ID, GATEWAY_SECRET), "bedrock", "us-east-1")
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return bool(expected == fields["Signature"])


def _config(url: str) -> dict[str, Any]:
    return {
        "upstreams": {
            "bedrock": {
                "kind": "bedrock",
                "base_url": url,
                "aws": {
                    "region": "us-east-1",
                    "access_key_id_env": "LLMTALLY_TEST_AWS_KEY_ID",
                    "secret_access_key_env": "LLMTALLY_TEST_AWS_SECRET",
                },
            }
        },
        "routes": [
            {"match": "anthropic.*", "upstream": "bedrock"},
            {"match": "us.anthropic.*", "upstream": "bedrock"},
        ],
    }


@pytest.fixture()
def aws_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTALLY_TEST_AWS_KEY_ID", GATEWAY_KEY_ID)
    monkeypatch.setenv("LLMTALLY_TEST_AWS_SECRET", GATEWAY_SECRET)


def _client(url: str) -> Any:
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=CLIENT_KEY_ID,
        aws_secret_access_key=CLIENT_SECRET,
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.mark.usefixtures("aws_keys")
def test_converse_is_re_signed_and_recorded_with_its_tokens(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    with BedrockReplay() as replay, open_store(database) as store:
        writer = LedgerWriter(store, tmp_path / "spool.jsonl", flush_interval=0.02)
        with live_gateway(_config(replay.url), Catalog.load(), recorder=writer) as (url, _):
            client = _client(url)
            answer = client.converse(
                modelId=MODEL, messages=MESSAGES, inferenceConfig={"maxTokens": 512}
            )
            profile = client.converse(modelId=PROFILE, messages=MESSAGES)
        assert writer.close(timeout=20)
        calls = {call.model_requested: call for call in store.list(limit=10)}
    # the client got Bedrock's answer, parsed by boto3
    assert answer["usage"]["cacheReadInputTokens"] == 1500
    assert profile["output"]["message"]["content"] == [{"text": "Hi."}]
    # upstream: the model id percent-encoded as boto3 sends it, signed with the gateway's keys
    assert [s.path for s in replay.seen] == [
        "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse",
        "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse",
    ]
    assert all(s.signature_ok for s in replay.seen)
    assert all(CLIENT_KEY_ID not in json.dumps(s.headers) for s in replay.seen)
    call = calls[MODEL]
    assert (call.provider, call.status, call.error) == ("bedrock", 200, None)
    usage = call.usage
    # 25 + 1500 + 500 = 2025 prompt tokens, 1500 read, 500 written; 180 out
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (
        2025,
        1500,
        500,
    )
    assert usage.output_tokens == 180 and usage.source == "reported"
    # stopReason end_turn; inferenceConfig.maxTokens 512 (the request above)
    assert (call.finish_reason, call.max_output_tokens) == ("stop", 512)
    other = calls[PROFILE]
    assert (other.provider, other.usage.input_tokens, other.usage.output_tokens) == (
        "bedrock",
        12,
        40,
    )


@pytest.fixture()
def gateway(aws_keys: None) -> Iterator[tuple[str, ListRecorder, BedrockReplay]]:
    with BedrockReplay() as replay, live_gateway(_config(replay.url)) as (url, recorder):
        yield url, recorder, replay


def _error(call: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    return (
        error["Error"]["Code"],
        error["Error"]["Message"],
        error["ResponseMetadata"]["HTTPStatusCode"],
    )


def test_converse_stream_is_relayed_and_its_metadata_usage_recorded(
    gateway: tuple[str, ListRecorder, BedrockReplay],
) -> None:
    url, recorder, replay = gateway
    response = _client(url).converse_stream(modelId=MODEL, messages=MESSAGES)
    events = list(response["stream"])  # boto3 checks every message's CRCs
    assert [next(iter(e)) for e in events] == [name for name, _ in STREAM]
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 95
    assert [s.path for s in replay.seen] == [
        "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse-stream"
    ]
    assert replay.seen[0].signature_ok
    call = recorder.next_call(0)
    assert (call.provider, call.status, call.error) == ("bedrock", 200, None)
    assert call.ttft_ms is not None and call.finish_reason == "stop"
    usage = call.usage
    # metadata above: 30 uncached + 2048 read, nothing written; 95 output tokens
    assert (usage.source, usage.input_tokens, usage.cache_read_tokens) == ("reported", 2078, 2048)
    assert (usage.cache_write_tokens, usage.output_tokens) == (0, 95)


def test_an_unrouted_model_is_a_resource_not_found(
    gateway: tuple[str, ListRecorder, BedrockReplay],
) -> None:
    client = _client(gateway[0])
    code, message, status = _error(
        lambda: client.converse(modelId="meta.llama3-70b-instruct-v1:0", messages=MESSAGES)
    )
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert "no route for model 'meta.llama3-70b-instruct-v1:0'" in message


@pytest.mark.parametrize(
    ("path", "content", "status", "kind", "words"),
    [
        (f"/model/{MODEL}/converse", b"{nope", 400, "ValidationException", "malformed JSON"),
        (f"/model/{MODEL}/converse", b"[]", 400, "ValidationException", "a JSON object"),
        (f"/model/{MODEL}/invoke", b"{}", 404, None, "no such endpoint"),
        ("/model/a%20b/converse", b"{}", 400, "ValidationException", "printable characters"),
    ],
)
def test_bad_requests_get_clear_errors(
    gateway: tuple[str, ListRecorder, BedrockReplay],
    path: str,
    content: bytes,
    status: int,
    kind: str | None,
    words: str,
) -> None:
    reply = httpx.post(
        gateway[0] + path, content=content, headers={"content-type": "application/json"}
    )
    assert reply.status_code == status
    if kind is None:  # not a Bedrock path at all: the gateway's default shape
        assert words in reply.json()["error"]["message"]
        return
    assert reply.headers["x-amzn-errortype"] == kind
    assert set(reply.json()) == {"message"} and words in reply.json()["message"]


def test_without_aws_keys_the_gateway_says_which_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMTALLY_TEST_AWS_KEY_ID", raising=False)
    with BedrockReplay() as replay, live_gateway(_config(replay.url)) as (url, _):
        code, message, status = _error(
            lambda: _client(url).converse(modelId=MODEL, messages=MESSAGES)
        )
    assert (code, status) == ("InternalServerException", 500)
    assert "set LLMTALLY_TEST_AWS_KEY_ID and LLMTALLY_TEST_AWS_SECRET" in message
    assert replay.seen == []


def test_no_signature_or_key_is_stored(gateway: tuple[str, ListRecorder, BedrockReplay]) -> None:
    url, recorder, replay = gateway
    replay.echo_auth = True  # a careless upstream repeats the Authorization it got
    code, message, status = _error(lambda: _client(url).converse(modelId=MODEL, messages=MESSAGES))
    assert status == 403 and GATEWAY_KEY_ID in message  # the client saw the upstream's reply
    signature = message.rsplit("Signature=", 1)[1]
    call = recorder.next_call(0)
    bodies = [dataclasses.asdict(b) if b else None for b in recorder.bodies]
    stored = (call.error or "") + json.dumps(bodies, default=str)
    assert signature not in stored and GATEWAY_SECRET not in stored
    assert "[redacted]" in (call.error or "")


def test_the_config_needs_a_region_for_a_host_that_does_not_name_one() -> None:
    with pytest.raises(ValueError, match=r"aws.region: a bedrock upstream needs its region"):
        GatewayConfig.model_validate(
            {"upstreams": {"b": {"kind": "bedrock", "base_url": "http://127.0.0.1:1"}}}
        )
    named = GatewayConfig.model_validate(
        {"upstreams": {"b": {"kind": "bedrock",
                             "base_url": "https://bedrock-runtime.eu-west-3.amazonaws.com"}}}
    )  # fmt: skip
    upstream = named.upstreams["b"]
    assert (upstream.region, upstream.price_provider) == ("eu-west-3", "bedrock")


# --- the signer against AWS's published examples -------------------------------------


def test_signing_key_matches_aws_s_derivation_example() -> None:
    # secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam
    key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_signature_matches_aws_s_iam_list_users_example() -> None:
    # GET https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08, content-type
    # application/x-www-form-urlencoded; charset=utf-8, x-amz-date 20150830T123600Z,
    # AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, us-east-1, iam
    headers = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    credentials = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    signature = sign_request(
        "GET",
        "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
        headers,
        b"",
        credentials,
        "us-east-1",
        "iam",
        now=dt.datetime(2015, 8, 30, 12, 36, tzinfo=dt.UTC),
    )
    assert signature == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request,"
        " SignedHeaders=content-type;host;x-amz-date, Signature=" + signature
    )
    assert "wJalrXUtnFEMI" not in repr(credentials)


# --- the event-stream reader on its own ----------------------------------------------


def _stream_bytes() -> bytes:
    return b"".join(event_message(name, payload) for name, payload in STREAM)


def test_the_event_stream_reader_takes_messages_split_anywhere() -> None:
    whole = _stream_bytes()
    stream = BedrockConverseStream()
    for i in range(len(whole)):  # one byte at a time
        stream.feed(whole[i : i + 1])
    usage = stream.usage()
    assert stream.finished and stream.malformed == 0 and stream.text == "Hello!"
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (2078, 95)


def test_a_bad_message_is_counted_not_raised() -> None:
    good = _stream_bytes()
    flipped = bytearray(event_message("contentBlockDelta", {"delta": {"text": "x"}}))
    flipped[-6] ^= 0xFF  # the payload no longer matches its CRC
    stream = BedrockConverseStream()
    stream.feed(bytes(flipped) + good)
    assert stream.malformed == 1 and stream.finished and stream.text == "Hello!"
    huge = BedrockConverseStream()
    huge.feed((MAX_MESSAGE_BYTES + 1).to_bytes(4, "big") + bytes(8) + good)
    assert huge.malformed == 1 and not huge.finished and huge.usage() is None


def test_a_refused_request_head_on_a_bedrock_path_is_in_bedrock_s_shape() -> None:
    refusal = refusal_bytes(f"/model/{MODEL}/converse?x=1".encode(), 431, "too many headers")
    head, _, body = refusal.partition(b"\r\n\r\n")
    assert b"\r\nx-amzn-errortype: ValidationException\r\n" in head
    assert json.loads(body) == {"message": "too many headers"}
