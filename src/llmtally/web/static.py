"""The dashboard's static files, and the Plotly.js that the ``plotly`` wheel ships.

Each URL carries a digest of the file (``/static/style.css?v=1a2b3c4d``), so a
browser may keep it for a year and still never runs a stale copy after an
upgrade. Files are read (and gzipped, for clients that accept it) once, on
first use; nothing is read at import time, and no CDN is involved.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

from llmtally.web.http import Response

__all__ = ["STATIC_DIR", "StaticFiles", "plotly_js"]

STATIC_DIR = Path(__file__).parent / "static"
_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
_FOREVER = "public, max-age=31536000, immutable"


def plotly_js() -> Path:
    """``plotly.min.js`` inside the installed ``plotly`` package (not imported)."""
    spec = importlib.util.find_spec("plotly")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path
    raise FileNotFoundError(
        "plotly.min.js not found in the plotly package; reinstall llmtally's "
        "dependencies (pip install plotly)"
    )


@dataclass(frozen=True, slots=True)
class _Loaded:
    body: bytes
    gzipped: bytes
    digest: str


class StaticFiles:
    """The files under ``static/`` plus ``plotly.min.js``, served by name."""

    def __init__(self, folder: Path = STATIC_DIR, plotly: Path | None = None) -> None:
        self._paths = {p.name: p for p in folder.iterdir() if p.suffix in _TYPES}
        self._paths["plotly.min.js"] = plotly or plotly_js()
        self._loaded: dict[str, _Loaded] = {}
        self._lock = threading.Lock()

    def _load(self, name: str) -> _Loaded:
        with self._lock:
            found = self._loaded.get(name)
            if found is None:
                body = self._paths[name].read_bytes()
                digest = hashlib.sha256(body).hexdigest()[:12]
                found = _Loaded(body, gzip.compress(body, 6, mtime=0), digest)
                self._loaded[name] = found
            return found

    def url(self, name: str) -> str:
        return f"/static/{name}?v={self._load(name).digest}"

    def response(self, name: str, version: str | None, accept_encoding: str) -> Response | None:
        """The file, or None when there is none of that name."""
        if name not in self._paths:
            return None
        loaded = self._load(name)
        cache = _FOREVER if version == loaded.digest else "no-cache"
        headers = [("cache-control", cache), ("vary", "accept-encoding")]
        kind = _TYPES[Path(name).suffix]
        if "gzip" in accept_encoding.lower():
            headers.append(("content-encoding", "gzip"))
            return Response(200, loaded.gzipped, kind, headers)
        return Response(200, loaded.body, kind, headers)
