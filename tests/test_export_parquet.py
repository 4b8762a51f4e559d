"""``llmtally export --format parquet`` on SQLite and PostgreSQL: typed columns that
read back equal to the ledger (exact decimals, UTC timestamps), row groups
written as rows stream in, and the file appears only once complete."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import Result
from typer.testing import CliRunner

from llmtally.analytics import EXPORT_COLUMNS, export_rows, parquet_schema, write_parquet
from llmtally.cli import app
from llmtally.ledger import Store
from llmtally.ledger.rows import call_to_row
from llmtally.ledger.schema import Fixed
from llmtally.ledger.schema import calls as calls_table
from llmtally.meter import cost
from llmtally.usage import Call, Usage
from test_ledger_support import (  # noqa: F401
    db_url,
    full_call,
    pg_base_url,
    price,
    simple_call,
    store,
)

UTC = dt.UTC
Run = Callable[..., Result]


def at(day: int, hour: int, micro: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, 0, 0, micro, tzinfo=UTC)


def ledger_calls() -> list[Call]:
    """Priced and unpriced calls, NULLs, tags and images, and amounts that use every
    digit NUMERIC(20, 10) has."""
    big = cost(Usage(input_tokens=1_000, output_tokens=10), price())._replace(
        input=Decimal("123456789.0123456789"), request=Decimal("0.0000000001")
    )
    return [
        full_call(started_at=at(1, 9, 123_456)),
        full_call(started_at=at(1, 10), cost=big, tags=(), user=None, model_served=None),
        simple_call(started_at=at(1, 11, 1)),
        simple_call(
            started_at=at(2, 0),
            status=429,
            error="rate limited",
            usage=Usage(input_tokens=5, audio_seconds=Decimal("12.3456789012")),
        ),
        full_call(started_at=at(2, 23, 999_999), provider="anthropic", feature=None),
    ]


@pytest.fixture
def loaded(store: Store) -> list[Call]:  # noqa: F811
    found = ledger_calls()
    store.insert_many(found)
    return sorted(found, key=lambda c: (c.started_at, c.id))


@pytest.fixture
def run(store: Store, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Run:  # noqa: F811
    monkeypatch.setenv("LLMTALLY_DATABASE_URL", db_url)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def expected(found: list[Call]) -> list[dict[str, Any]]:
    """The rows as the ledger holds them: times in UTC, money to 10 places."""
    rows = []
    for call in found:
        row = call_to_row(call)
        for column in calls_table.columns:
            if isinstance(column.type, Fixed) and row[column.name] is not None:
                row[column.name] = row[column.name].quantize(Decimal("1e-10"))
        rows.append(row)
    return rows


def assert_rows_equal(table: pa.Table, want: list[dict[str, Any]]) -> None:
    got = table.to_pylist()
    assert len(got) == len(want)
    for got_row, want_row in zip(got, want, strict=True):
        assert list(got_row) == list(EXPORT_COLUMNS)
        for name in EXPORT_COLUMNS:
            value, wanted = got_row[name], want_row[name]
            assert value == wanted and type(value) is type(wanted), (name, value, wanted)
            if isinstance(wanted, Decimal):  # the same digits, not only the same value
                assert value.as_tuple() == wanted.as_tuple(), (name, value, wanted)
            if isinstance(wanted, dt.datetime):
                assert value.utcoffset() == dt.timedelta(0), (name, value)


def test_every_row_and_column_reads_back_equal(
    run: Run, loaded: list[Call], tmp_path: Path
) -> None:
    (out := tmp_path / "out").mkdir()  # tmp_path also holds the SQLite ledger
    target = out / "calls.parquet"
    result = run("export", "--format", "parquet", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert "exported 5 calls" in result.stderr
    table = pq.read_table(target)
    assert table.schema.equals(parquet_schema())
    assert_rows_equal(table, expected(loaded))
    assert [p.name for p in out.iterdir()] == ["calls.parquet"]  # no partial file left


def test_columns_carry_their_types() -> None:
    schema = parquet_schema()
    assert schema.names == list(EXPORT_COLUMNS)
    want = {
        "id": (pa.string(), False),
        "started_at": (pa.timestamp("us", tz="UTC"), False),
        "model_served": (pa.string(), True),
        "status": (pa.int64(), False),
        "latency_ms": (pa.float64(), False),
        "ttft_ms": (pa.float64(), True),
        "input_tokens": (pa.int64(), False),
        "input_system_tokens": (pa.int64(), True),
        "cost_total": (pa.decimal128(20, 10), True),
        "audio_seconds": (pa.decimal128(20, 10), True),
        "tags": (pa.string(), True),
    }
    for name, (kind, nullable) in want.items():
        field = schema.field(name)
        assert (field.type, field.nullable) == (kind, nullable), name
    fixed = {c.name for c in calls_table.columns if isinstance(c.type, Fixed)}
    assert {f.name for f in schema if pa.types.is_decimal(f.type)} == fixed


def test_since_and_until_select_the_range(run: Run, loaded: list[Call], tmp_path: Path) -> None:
    target = tmp_path / "range.parquet"
    args = ("--since", "2026-11-01T10:00:00+00:00", "--until", "2026-11-02T12:00:00+00:00")
    result = run("export", "--format", "parquet", *args, "--output", str(target))
    assert result.exit_code == 0, result.output
    inside = [c for c in loaded if at(1, 10) <= c.started_at < at(2, 12)]
    assert len(inside) == 3
    assert_rows_equal(pq.read_table(target), expected(inside))


def test_rows_are_written_one_row_group_at_a_time(
    store: Store,  # noqa: F811
    loaded: list[Call],
    tmp_path: Path,
) -> None:
    target = tmp_path / "groups.parquet"
    assert write_parquet(export_rows(store, batch_size=2), target, row_group_size=2) == 5
    parquet = pq.ParquetFile(target)
    assert parquet.metadata.num_row_groups == 3
    assert [parquet.metadata.row_group(i).num_rows for i in range(3)] == [2, 2, 1]
    assert_rows_equal(parquet.read(), expected(loaded))


def test_an_empty_ledger_gives_an_empty_file_with_the_schema(run: Run, tmp_path: Path) -> None:
    target = tmp_path / "empty.parquet"
    result = run("export", "--format", "parquet", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert "nothing exported" in result.stderr
    table = pq.read_table(target)
    assert table.num_rows == 0
    assert table.schema.equals(parquet_schema())


def test_parquet_needs_an_output_file(run: Run, loaded: list[Call], tmp_path: Path) -> None:
    for args in ((), ("--output", "-")):
        result = run("export", "--format", "parquet", *args)
        assert result.exit_code == 2, result.output
        assert "needs --output FILE" in result.stderr
        assert result.stdout == ""


def test_a_failed_export_leaves_no_file(
    store: Store,  # noqa: F811
    loaded: list[Call],
    tmp_path: Path,
) -> None:
    (out := tmp_path / "out").mkdir()
    target = out / "broken.parquet"
    target.write_bytes(b"an older export")

    def rows() -> Iterator[dict[str, Any]]:
        yield from export_rows(store)  # written, a row group at a time, before the failure
        raise ConnectionError("database went away")

    with pytest.raises(ConnectionError):
        write_parquet(rows(), target, row_group_size=2)
    assert target.read_bytes() == b"an older export"
    assert [p.name for p in out.iterdir()] == ["broken.parquet"]
