"""Request bodies that are not JSON: multipart forms (audio transcriptions).

Only the text fields and what is needed to price the upload are kept; the
body itself is forwarded upstream untouched.
"""

from __future__ import annotations

import struct
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

__all__ = ["is_multipart", "parse_form", "wav_seconds"]


def is_multipart(content_type: str) -> bool:
    return content_type.lower().startswith("multipart/form-data")


def wav_seconds(data: bytes) -> float | None:
    """The duration of a PCM WAV file from its header, or None for other formats."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, 0
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int(struct.unpack("<I", data[pos + 4 : pos + 8])[0])
        if chunk == b"fmt " and size >= 16:
            byte_rate = int(struct.unpack("<I", data[pos + 16 : pos + 20])[0])
        elif chunk == b"data" and byte_rate:
            return min(size, len(data) - pos - 8) / byte_rate
        pos += 8 + size + (size & 1)
    return None


def parse_form(raw: bytes, content_type: str) -> dict[str, Any]:
    """Text fields as a dict; an uploaded file as ``_file`` (name, bytes, WAV seconds).

    Raises ValueError when the body is not a well-formed multipart form."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
    )
    if not message.is_multipart():
        raise ValueError("not a multipart form")
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            fields["_file"] = {
                "filename": filename,
                "bytes": len(data),
                "wav_seconds": wav_seconds(data),
            }
        else:
            fields[name] = data.decode("utf-8", "replace")
    return fields
