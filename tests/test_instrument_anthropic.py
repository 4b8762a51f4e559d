"""``llmtally.instrument()`` with the official ``anthropic`` SDK against the replay upstream.

Expected figures worked out by hand from the transcripts and the catalog
(claude-sonnet-4: $3.00 input, $3.75 5-minute cache write, $0.30 cache read,
$15.00 output per 1M; claude-opus-4-1: $15.00 input, $75.00 output per 1M).
llmtally's input tokens are Anthropic's ``input_tokens`` plus its cache reads
and writes:

- ``anthropic_messages``: 2095 uncached + 2051 written + 503 out = 4146 input;
  2095 x 3 + 2051 x 3.75 + 503 x 15 = 6285 + 7691.25 + 7545 millionths = $0.02152125;
- ``anthropic_messages_stream``: 25 uncached + 1800 read = 1825 input, 15 out:
  25 x 3 + 1800 x 0.30 + 15 x 15 = 75 + 540 + 225 millionths = $0.00084;
- the same stream closed after its first text delta ("Hello"): the input as
  ``message_start`` reported it, and 1 output token ("Hello") estimated:
  75 + 540 + 1 x 15 millionths = $0.00063;
- ``anthropic_messages_stream_thinking``: 43 in, 98 out (thinking included):
  43 x 15 + 98 x 75 = 645 + 7350 millionths = $0.007995;
- ``anthropic_error_529``: overloaded, no usage, no cost.

Each row is compared with the one the gateway records for the same call.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import anthropic
import pytest
from anthropic import _base_client

import llmtally
from gateway_support import ListRecorder, free_port
from instrument_support import (  # noqa: F401
    SAME,
    assert_same,
    catalog,
    gateway_call,
    recorded,
    recorded_calls,
    upstream,
)
from llmtally.catalog import Catalog
from llmtally.usage import Call
from replay_upstream import ReplayUpstream

SONNET = "claude-sonnet-4-20250514"
HELLO = {
    "model": SONNET,
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": "Hello, Claude"}],
}
CACHED = {
    "model": SONNET,
    "max_tokens": 256,
    "system": [
        {
            "type": "text",
            "text": "You are a concise assistant.",
            "cache_control": {"type": "ephemeral"},
        }
    ],
    "messages": [{"role": "user", "content": "Hello"}],
}
THINK = {
    "model": "claude-opus-4-1-20250805",
    "max_tokens": 20000,
    "thinking": {"type": "enabled", "budget_tokens": 16000},
    "messages": [{"role": "user", "content": "What is 27 * 453?"}],
}
SAME_AS_GATEWAY = (*SAME, "flags")


def _client(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="sk-ant-test-0123456789", max_retries=0)


def _gateway_call(upstream: ReplayUpstream, catalog: Catalog, send: Any) -> Call:  # noqa: F811
    """What the gateway records when the (uninstrumented) SDK sends ``send`` through it."""
    return gateway_call(upstream, catalog, "anthropic", _client, send, anthropic.APIStatusError)


def _same(ours: Call, gateways: Call) -> None:
    assert_same(ours, gateways, SAME_AS_GATEWAY)


def _plain(client: anthropic.Anthropic) -> dict[str, Any]:
    headers = {"x-llmtally-feature": "greet"}
    answer: Any = client.messages.create(**HELLO, extra_headers=headers)  # type: ignore[call-overload]
    dumped: dict[str, Any] = answer.model_dump()
    return dumped


def _events(client: anthropic.Anthropic) -> list[dict[str, Any]]:
    return [event.model_dump() for event in client.messages.create(**CACHED, stream=True)]  # type: ignore[call-overload]


def _helper(client: anthropic.Anthropic) -> tuple[list[str], dict[str, Any]]:
    with client.messages.stream(**CACHED) as stream:  # type: ignore[arg-type]
        texts = list(stream.text_stream)
        return texts, stream.get_final_message().model_dump()


def _thinking(client: anthropic.Anthropic) -> dict[str, Any]:
    with client.messages.stream(**THINK) as stream:  # type: ignore[arg-type]
        return stream.get_final_message().model_dump()


def _tokens(call: Call) -> tuple[int, int, int, int]:
    usage = call.usage
    return (
        usage.input_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        usage.output_tokens,
    )


@pytest.mark.parametrize(
    ("send", "tokens", "total"),
    [
        (_plain, (4146, 0, 2051, 503), "0.02152125"),
        (_events, (1825, 1800, 0, 15), "0.00084"),
        (_helper, (1825, 1800, 0, 15), "0.00084"),
        (_thinking, (43, 0, 0, 98), "0.007995"),
    ],
    ids=["create", "create-stream", "stream-helper", "stream-helper-thinking"],
)
def test_messages_are_the_rows_the_gateway_records_and_the_sdk_sees_the_same(
    upstream: ReplayUpstream,  # noqa: F811
    recorded: ListRecorder,  # noqa: F811
    catalog: Catalog,  # noqa: F811
    send: Any,
    tokens: tuple[int, int, int, int],
    total: str,
) -> None:
    with _client(upstream.url) as client, llmtally.attribute(user="ana", tags=["beta"]):
        ours = send(client)
    [call] = recorded_calls(recorded, 1)
    assert (call.provider, call.endpoint, call.status) == ("anthropic", "/v1/messages", 200)
    assert _tokens(call) == tokens and call.usage.source == "reported"
    assert call.cost is not None and call.cost.total == Decimal(total)
    assert (call.user, call.tags, call.flags) == ("ana", ("beta",), ())
    assert call.feature == ("greet" if send is _plain else None)
    llmtally.uninstrument()
    with _client(upstream.url) as bare:
        assert send(bare) == ours  # the same return value, events, text and final message

    def attributed(client: anthropic.Anthropic) -> Any:
        headers = {"x-llmtally-user": "ana", "x-llmtally-tags": "beta"}
        return send(client.with_options(default_headers=headers))

    _same(call, _gateway_call(upstream, catalog, attributed))


def test_the_helpers_text_and_final_message(
    upstream: ReplayUpstream,  # noqa: F811
    recorded: ListRecorder,  # noqa: F811
) -> None:
    with _client(upstream.url) as client:
        texts, final = _helper(client)
    assert texts == ["Hello", "!"]
    assert final["usage"]["cache_read_input_tokens"] == 1800
    assert recorded_calls(recorded, 1)[0].model_served == SONNET


def _half(client: anthropic.Anthropic, how: str) -> list[str]:
    seen = []
    if how == "helper":
        with client.messages.stream(**CACHED) as stream:  # type: ignore[arg-type]
            for text in stream.text_stream:
                seen.append(text)
                break  # leaving the block closes the stream
        return seen
    made = client.messages.create(**CACHED, stream=True)  # type: ignore[call-overload]
    for event in made:
        seen.append(event.type)
        if event.type == "content_block_delta":
            break
    made.close()
    return seen


@pytest.mark.parametrize("how", ["create", "helper"])
def test_a_stream_closed_half_way_is_recorded_as_a_client_that_left(
    upstream: ReplayUpstream,  # noqa: F811
    recorded: ListRecorder,  # noqa: F811
    how: str,
) -> None:
    upstream.delay = 0.1
    with _client(upstream.url) as client:
        seen = _half(client, how)
    assert seen[-1] in ("Hello", "content_block_delta")
    [call] = recorded_calls(recorded, 1)
    assert call.status == 499 and call.flags == ("client_disconnected",)
    assert call.usage.source == "estimated"
    assert _tokens(call) == (1825, 1800, 0, 1)
    assert call.cost is not None and call.cost.total == Decimal("0.00063")
    assert call.model_served == SONNET


def _overloaded(client: anthropic.Anthropic) -> Any:
    return client.messages.create(
        model="claude-3-5-haiku-20241022",
        max_tokens=1024,
        messages=[{"role": "user", "content": "Hello, Claude"}],
    )


def _raised(url: str) -> anthropic.APIStatusError:
    with _client(url) as client, pytest.raises(anthropic.APIStatusError) as caught:
        _overloaded(client)
    return caught.value


def test_an_upstream_529_is_raised_unchanged_and_recorded(
    upstream: ReplayUpstream,  # noqa: F811
    recorded: ListRecorder,  # noqa: F811
    catalog: Catalog,  # noqa: F811
) -> None:
    ours = _raised(upstream.url)
    [call] = recorded_calls(recorded, 1)
    llmtally.uninstrument()
    bare = _raised(upstream.url)
    assert (type(ours), ours.status_code, ours.message, ours.body) == (
        type(bare),
        bare.status_code,
        bare.message,
        bare.body,
    )
    assert ours.status_code == 529
    assert call.status == 529 and call.cost is None
    assert call.cost_error == "the call failed (HTTP 529) and reported no usage"
    assert call.error is not None and "Overloaded" in call.error
    _same(call, _gateway_call(upstream, catalog, _overloaded))


async def _async_all(url: str) -> tuple[Any, list[str], list[str]]:
    async with anthropic.AsyncAnthropic(base_url=url, api_key="sk-x", max_retries=0) as client:

        async def plain() -> Any:
            with llmtally.attribute(user="u1", feature="chat"):
                return await client.messages.create(**HELLO)  # type: ignore[call-overload]

        async def streamed() -> list[str]:
            with llmtally.attribute(user="u2", tags=["s"]):
                made = await client.messages.create(**CACHED, stream=True)  # type: ignore[call-overload]
                return [event.type async for event in made]

        async def helper() -> list[str]:
            async with client.messages.stream(**THINK) as stream:  # type: ignore[arg-type]
                texts = [text async for text in stream.text_stream]
                final = await stream.get_final_message()
                assert final.usage.output_tokens == 98
                return texts

        with llmtally.attribute(feature="outer", tags=["all"]):
            return await asyncio.gather(plain(), streamed(), helper())


def test_async_create_stream_and_helper_with_their_own_attribution(
    upstream: ReplayUpstream,  # noqa: F811
    recorded: ListRecorder,  # noqa: F811
) -> None:
    answer, events, texts = asyncio.run(_async_all(upstream.url))
    assert answer.usage.output_tokens == 503 and events[-1] == "message_stop"
    assert texts == ["27 * 453 = 12,231"]
    calls = {call.user: call for call in recorded_calls(recorded, 3)}
    plain, cached, thinking = calls["u1"], calls["u2"], calls[None]
    assert (plain.model_requested, plain.feature, plain.tags) == (SONNET, "chat", ("all",))
    assert plain.cost is not None and plain.cost.total == Decimal("0.02152125")
    assert (cached.model_requested, cached.feature, cached.tags) == (SONNET, "outer", ("all", "s"))
    assert cached.cost is not None and cached.cost.total == Decimal("0.00084")
    assert (thinking.feature, thinking.tags) == ("outer", ("all",))
    assert thinking.cost is not None and thinking.cost.total == Decimal("0.007995")
    assert {call.status for call in calls.values()} == {200}


def test_an_async_stream_closed_half_way(upstream: ReplayUpstream, recorded: ListRecorder) -> None:  # noqa: F811
    upstream.delay = 0.1

    async def half() -> None:
        async with anthropic.AsyncAnthropic(
            base_url=upstream.url, api_key="sk-x", max_retries=0
        ) as client:
            async with client.messages.stream(**CACHED) as stream:  # type: ignore[arg-type]
                async for _ in stream.text_stream:
                    break

    asyncio.run(half())
    [call] = recorded_calls(recorded, 1)
    assert call.status == 499 and call.flags == ("client_disconnected",)
    assert call.cost is not None and call.cost.total == Decimal("0.00063")


def test_an_unreachable_upstream_raises_as_before_and_is_recorded(
    recorded: ListRecorder,  # noqa: F811
) -> None:
    port = free_port()  # nothing listens there
    with (
        _client(f"http://127.0.0.1:{port}") as client,
        pytest.raises(anthropic.APIConnectionError),
    ):
        client.messages.create(**HELLO)  # type: ignore[call-overload]
    [call] = recorded_calls(recorded, 1)
    assert call.status == 502 and call.cost is None
    assert call.error is not None and call.error.startswith("upstream unreachable: ")


def test_other_endpoints_are_not_calls(upstream: ReplayUpstream, recorded: ListRecorder) -> None:  # noqa: F811
    with _client(upstream.url) as client, pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(model=SONNET, messages=HELLO["messages"])  # type: ignore[arg-type]
    assert recorded_calls(recorded, 0) == []


def test_uninstrument_restores_the_sdk() -> None:
    original = _base_client.SyncAPIClient._attempt_request
    async_original = _base_client.AsyncAPIClient._attempt_request
    llmtally.instrument(writer=ListRecorder(), catalog=Catalog.load())
    assert _base_client.SyncAPIClient._attempt_request is not original
    assert _base_client.AsyncAPIClient._attempt_request is not async_original
    llmtally.uninstrument()
    assert _base_client.SyncAPIClient._attempt_request is original
    assert _base_client.AsyncAPIClient._attempt_request is async_original
