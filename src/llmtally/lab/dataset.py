"""The dataset: rows of variable values, inline or from a CSV or JSONL file.

A file path is relative to the experiment file. Every value becomes text (a
nested JSON value becomes its JSON text); ``null`` stays ``None``, which a
template may not use. A malformed row is an error naming the file and line.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from llmtally.lab.spec import Experiment, ExperimentError, Source

__all__ = ["Row", "load_rows", "text_of"]

Row = dict[str, str | None]
_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}


def text_of(value: Any) -> str | None:
    """A dataset value as template text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def load_rows(experiment: Experiment, source: Source) -> list[Row]:
    """The experiment's rows; one empty row when it has no dataset."""
    dataset = experiment.dataset
    if dataset is None:
        return [{}]
    if isinstance(dataset, list):
        rows = [{k: text_of(v) for k, v in row.items()} for row in dataset]
    else:
        rows = _file_rows(source, dataset)
    if not rows:
        raise source.error(["dataset"], "the dataset has no rows")
    return rows


def _file_rows(source: Source, name: str) -> list[Row]:
    path = (source.folder / name).resolve()
    kind = _FORMATS.get(path.suffix.lower())
    if kind is None:
        raise source.error(["dataset"], f"{name!r} is not a .csv, .jsonl or .json file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise source.error(["dataset"], f"cannot read {path} ({reason})") from None
    if kind == "csv":
        return _csv_rows(path, text)
    if kind == "jsonl":
        return _jsonl_rows(path, text)
    return _json_rows(path, text)


def _csv_rows(path: Path, text: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ExperimentError(f"{path}: the file is empty (a CSV dataset needs a header)") from None
    except csv.Error as exc:
        raise ExperimentError(f"{path}:1: not valid CSV: {exc}") from None
    columns = [name.strip() for name in header]
    for i, name in enumerate(columns):
        if not name:
            raise ExperimentError(f"{path}:1: column {i + 1} of the header has no name")
        if name in columns[:i]:
            raise ExperimentError(f"{path}:1: column {name!r} appears twice in the header")
    rows: list[Row] = []
    try:
        for values in reader:
            if not values:
                continue  # a blank line
            if len(values) != len(columns):
                raise ExperimentError(
                    f"{path}:{reader.line_num}: row {len(rows) + 1} has {len(values)} values; "
                    f"the header has {len(columns)} columns ({', '.join(columns)})"
                )
            rows.append(dict(zip(columns, values, strict=True)))
    except csv.Error as exc:
        raise ExperimentError(f"{path}:{reader.line_num}: not valid CSV: {exc}") from None
    return rows


def _object_row(path: Path, where: str, value: Any, number: int) -> Row:
    if not isinstance(value, dict):
        kind = type(value).__name__
        raise ExperimentError(f"{path}:{where}: row {number} is a {kind}, not a JSON object")
    return {str(k): text_of(v) for k, v in value.items()}


def _jsonl_rows(path: Path, text: str) -> list[Row]:
    rows: list[Row] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ExperimentError(
                f"{path}:{number}: row {len(rows) + 1} is not valid JSON: {exc.msg} "
                f"(column {exc.colno})"
            ) from None
        rows.append(_object_row(path, str(number), value, len(rows) + 1))
    return rows


def _json_rows(path: Path, text: str) -> list[Row]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExperimentError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(value, list):
        raise ExperimentError(f"{path}:1: a JSON dataset is a list of objects")
    return [_object_row(path, "1", item, i + 1) for i, item in enumerate(value)]
