"""llmtally.fastjson.loads gives exactly what json.loads gives (values, types and
errors), including the cases where orjson alone would differ."""

from __future__ import annotations

import json
import math

import orjson
import pytest

from llmtally.fastjson import loads


def test_a_chat_request_parses_to_the_same_values() -> None:
    text = (
        '{"model":"gpt-4o","messages":[{"role":"user","content":"héllo \\u00e9 \\ud83d\\ude00"}],'
        '"temperature":0.7,"max_tokens":256,"stream":false,"stop":null,"n":1}'
    )
    got = loads(text.encode())
    assert got == {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "héllo é 😀"}],
        "temperature": 0.7,
        "max_tokens": 256,
        "stream": False,
        "stop": None,
        "n": 1,
    }
    assert loads(text) == got  # str in, the same


def test_an_integer_beyond_64_bits_stays_an_int() -> None:
    # orjson alone turns it into 1.2345678901234568e+29
    assert orjson.loads(b"123456789012345678901234567890") == 1.2345678901234568e29
    got = loads(b'{"max_tokens": 123456789012345678901234567890}')
    assert got == {"max_tokens": 123456789012345678901234567890}
    assert isinstance(got["max_tokens"], int)


def test_nan_infinity_and_overflow_are_json_floats() -> None:
    got = loads(b"[NaN, Infinity, -Infinity, 1e400]")
    assert math.isnan(got[0])
    assert got[1:] == [math.inf, -math.inf, math.inf]


def test_a_lone_surrogate_is_kept_as_json_keeps_it() -> None:
    assert loads(b'"\\ud800"') == "\ud800"


def test_a_duplicate_key_keeps_the_last_value() -> None:
    assert loads(b'{"a": 1, "a": 2}') == {"a": 2}


def test_invalid_text_raises_json_s_own_error() -> None:
    with pytest.raises(json.JSONDecodeError) as caught:
        loads(b'{"model": ')
    assert str(caught.value) == "Expecting value: line 1 column 11 (char 10)"
    with pytest.raises(UnicodeDecodeError):
        loads(b'"\xff"')  # not UTF-8: json.loads(bytes) decodes first


def test_a_bytearray_and_a_memoryview_are_read() -> None:
    assert loads(bytearray(b"[1, 2]")) == [1, 2]
    assert loads(memoryview(b'{"x": true}')) == {"x": True}


def test_utf16_bytes_and_deep_nesting_behave_as_in_json() -> None:
    # json.loads(bytes) detects UTF-16/32 (RFC 8259 8.1 allows them in closed systems)
    assert loads('{"model": "gpt-4o"}'.encode("utf-16")) == {"model": "gpt-4o"}
    with pytest.raises(RecursionError):  # orjson stops at 1024 levels; json recurses
        loads(b"[" * 200_000 + b"]" * 200_000)


def test_dumps_line_reads_back_as_json_dumps_would() -> None:
    from llmtally.fastjson import dumps_line

    row = {"id": "c1", "latency_ms": 1.25, "tags": ["a", "b"], "note": "¥1\nx", "n": None}
    line = dumps_line(row)
    assert line.endswith(b"\n") and line.count(b"\n") == 1  # one line: the \n is escaped
    assert "¥".encode() in line  # UTF-8, not a \u escape: the same text once read
    assert json.loads(line) == row


def test_dumps_line_hands_what_orjson_would_change_to_json() -> None:
    from llmtally.fastjson import dumps_line

    assert orjson.dumps({"x": math.nan}) == b'{"x":null}'  # orjson alone loses the NaN
    assert dumps_line({"x": math.nan, "y": [math.inf]}) == b'{"x":NaN,"y":[Infinity]}\n'
    big = {"tokens": 123456789012345678901234567890}
    assert dumps_line(big) == b'{"tokens":123456789012345678901234567890}\n'
    assert dumps_line({"s": "\ud800"}) == b'{"s":"\\ud800"}\n'
    with pytest.raises(TypeError):  # json refuses it too, with its own error
        dumps_line({"amount": object()})
