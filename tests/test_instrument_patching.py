"""swap_methods: every SDK module's way of putting its wrappers on and taking
them off; an SDK version without a method to wrap is left as it is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmtally import instrument as inst
from llmtally.instrument.patching import swap_methods


class Client:
    def send(self, x: int) -> int:
        return x + 1


class AsyncishClient:
    def attempt(self, x: int) -> int:
        return x * 2


def _doubled(original: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(self: Any, x: int) -> int:
        return 10 * original(self, x)

    return wrapper


def test_wrappers_go_on_and_come_off() -> None:
    send, attempt = Client.send, AsyncishClient.attempt
    undo = swap_methods("fake", [(Client, "send", _doubled), (AsyncishClient, "attempt", _doubled)])
    assert undo is not None
    assert (Client().send(1), AsyncishClient().attempt(3)) == (20, 60)  # 10 x 2, 10 x 6
    undo()
    assert (Client.send, AsyncishClient.attempt) == (send, attempt)
    assert (Client().send(1), AsyncishClient().attempt(3)) == (2, 6)


def test_a_missing_method_leaves_the_sdk_untouched_and_is_counted() -> None:
    before, send = inst.internal_errors(), Client.send
    undo = swap_methods("fake", [(Client, "send", _doubled), (AsyncishClient, "gone", _doubled)])
    assert undo is None
    assert Client.send is send and Client().send(1) == 2
    assert inst.internal_errors() == before + 1
