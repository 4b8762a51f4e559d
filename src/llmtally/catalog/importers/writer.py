"""Price files as YAML (for hand editing) or JSON (generated: several times faster
to load): money as strings, defaults left out, round-trippable."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from llmtally.catalog.catalog import imports_dir
from llmtally.catalog.importers.common import ImportFormat, ImportResult
from llmtally.catalog.schema import ProviderFile

__all__ = ["dump_provider_file", "dump_provider_json", "write_atomically", "write_imported"]


# Keys that say what an entry is come before its numbers.
_FIRST = (
    "provider",
    "id",
    "name",
    "effective",
    "source",
    "checked",
    "note",
    "above",
    "start",
    "end",
)


def _plain_data(value: Any) -> Any:
    """Decimals -> strings (YAML would make floats of them); times -> ``HH:MM:SS``."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        keys = [k for k in _FIRST if k in value] + [k for k in value if k not in _FIRST]
        return {k: _plain_data(value[k]) for k in keys}
    if isinstance(value, list):
        return [_plain_data(v) for v in value]
    if isinstance(value, dt.time):
        return value.isoformat()
    return value


class _Dumper(yaml.SafeDumper):
    """Block style, with list items indented under their key."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a shared date written twice, never as ``&id001``/``*id001``


def dump_provider_file(pf: ProviderFile, header: str) -> str:
    """The YAML text of a price file, after ``header`` (each line made a comment)."""
    data = pf.model_dump(mode="python", exclude_none=True, exclude_defaults=True)
    data = {"provider": pf.provider, "name": pf.name, "pricing_url": pf.pricing_url, **data}
    body = yaml.dump(
        _plain_data(data),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comments + body


def dump_provider_json(pf: ProviderFile, note: str) -> str:
    """The JSON text of a generated price file; ``note`` says where it came from."""
    data = pf.model_dump(mode="python", exclude_none=True, exclude_defaults=True)
    data = {"provider": pf.provider, "name": pf.name, "pricing_url": pf.pricing_url, **data}
    data["note"] = note
    plain = _plain_data(data)
    return json.dumps(plain, indent=1, ensure_ascii=False, default=_iso) + "\n"


def _iso(value: object) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to a price file")


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; a price file is not secret
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_imported(result: ImportResult, home: Path, fmt: ImportFormat) -> list[Path]:
    """One ``<fmt>-<provider>.json`` per provider under the imports folder of ``home``."""
    folder = imports_dir(home)
    written = []
    for pf in result.files:
        path = folder / f"{fmt}-{pf.provider}.json"
        note = (
            f"Imported by `llmtally prices import --format {fmt}` from "
            f"{result.source_name or 'a ' + fmt + ' file'}. "
            "Re-import to refresh; hand edits are lost on the next import."
        )
        (folder / f"{fmt}-{pf.provider}.yaml").unlink(missing_ok=True)  # an older import
        write_atomically(path, dump_provider_json(pf, note))
        written.append(path)
    return written
