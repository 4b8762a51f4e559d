"""What the instrumentation tests share: the instrumented recorder, the replay
upstream, and the row the gateway records for the same call, to compare with."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import llmtally
from gateway_support import ListRecorder, live_gateway
from llmtally import instrument as inst
from llmtally.catalog import Catalog
from llmtally.usage import Call
from replay_upstream import ReplayUpstream

# The fields an instrumented row must share with the gateway's row for the same call.
SAME = (
    "provider",
    "model_requested",
    "model_served",
    "endpoint",
    "status",
    "usage",
    "cost",
    "cost_error",
    "user",
    "feature",
    "tags",
    "prompt_fingerprint",
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture
def upstream() -> Iterator[ReplayUpstream]:
    with ReplayUpstream() as running:
        yield running


@pytest.fixture
def recorded(catalog: Catalog) -> Iterator[ListRecorder]:
    keeper = ListRecorder()
    assert llmtally.instrument(writer=keeper, catalog=catalog)
    try:
        yield keeper
    finally:
        llmtally.uninstrument()


def recorded_calls(keeper: ListRecorder, n: int) -> list[Call]:
    """The ``n`` calls the instrumentation recorded, once its worker has written them."""
    inst.flush()
    assert len(keeper.calls) == n, keeper.calls
    return keeper.calls


def gateway_call(
    upstream: ReplayUpstream,
    catalog: Catalog,
    kind: str,
    client: Callable[[str], Any],
    send: Callable[[Any], Any],
    failure: type[BaseException],
    attributed: bool = False,
) -> Call:
    """What the gateway (an upstream of ``kind``) records when the SDK client
    made by ``client(base_url)`` sends ``send`` through it; ``failure`` is the
    SDK's status error, expected for error transcripts; ``attributed`` sends it
    inside an empty ``llmtally.attribute()``."""
    config = {
        "upstreams": {kind: {"kind": kind, "base_url": upstream.url}},
        "routes": [{"match": "*", "upstream": kind}],
    }
    with live_gateway(config, catalog) as (base, keeper):
        scope = llmtally.attribute() if attributed else contextlib.nullcontext()
        with client(base) as made, scope:
            try:
                send(made)
            except failure:
                pass
        return keeper.next_call(0)


def assert_same(ours: Call, gateways: Call, fields: tuple[str, ...] = SAME) -> None:
    for name in fields:
        assert getattr(ours, name) == getattr(gateways, name), name
