"""LiteLLM's ``model_prices_and_context_window.json`` -> llmtally price files.

One entry per key: ``litellm_provider`` names the provider (mapped to
llmtally's canonical ids), ``mode`` the kind; a leading ``<provider>/`` is
taken off the key to make the model id. Keys that name an image size and
quality (``hd/1024-x-1792/dall-e-3``) become ``images`` prices of their model.
Where two keys give one model id (``deepseek-chat`` and ``deepseek/deepseek-chat``;
Gemini API and Vertex AI), the key of the provider's own API wins, then the
first key; a loser with different prices is reported. ``alias_of`` entries
become aliases of their target.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmtally.catalog.importers.common import (
    EntryLog,
    ImportResult,
    canonical_provider,
    known_provider,
    positive_int,
    read_json,
    sanitize_provider,
)
from llmtally.catalog.importers.litellm_fields import ImageKey, is_price_field, price_fields
from llmtally.catalog.schema import RATE_FIELDS, ModelSpec, ProviderFile

__all__ = ["LITELLM_URL", "import_litellm", "strip_provider_prefix"]

LITELLM_URL = "https://github.com/BerriAI/litellm/blob/main/model_prices_and_context_window.json"

MODES: dict[str, str] = {
    "chat": "chat",
    "responses": "chat",
    "completion": "completion",
    "embedding": "embedding",
    "image_generation": "image",
    "image_edit": "image",
    "audio_transcription": "transcription",
    "audio_speech": "tts",
    "realtime": "realtime",
    "moderation": "moderation",
    "rerank": "rerank",
}
# LiteLLM's own schema example and its routing rules: documentation, not prices.
_META_KEYS = frozenset({"sample_spec", "fallback_generalizations"})
_IMAGE_KEY = re.compile(
    r"^(?:(?P<quality>[a-z]+)/)?(?P<w>\d+)-x-(?P<h>\d+)/(?:(?P<steps>[a-z0-9]+-steps)/)?(?P<rest>.+)$"
)
_URL = re.compile(r"^https?://\S+$")


def strip_provider_prefix(key: str, source_provider: str, provider: str) -> str:
    """``gemini/gemini-2.5-flash`` -> ``gemini-2.5-flash``: one leading provider segment."""
    head, sep, rest = key.partition("/")
    if not sep or not rest:
        return key
    names = {sanitize_provider(source_provider), provider}
    info = known_provider(provider)
    if info is not None:
        names.update((*info.litellm, *info.genai, *info.aliases, *info.key_prefixes))
    return rest if head.strip().lower() in names else key


def _image_key(key: str) -> tuple[ImageKey | None, str]:
    found = _IMAGE_KEY.match(key)
    if found is None:
        return None, key
    quality = found["quality"] or found["steps"] or "standard"
    return ImageKey(f"{found['w']}x{found['h']}", quality), found["rest"]


def _date(value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _has_price(price: Mapping[str, Any]) -> bool:
    tiers = ("batch", "flex", "priority", "images", "audio", "windows", "long_context")
    return any(price.get(name) is not None for name in RATE_FIELDS) or any(
        price.get(name) for name in tiers
    )


@dataclass(slots=True)
class _Model:
    provider: str
    source_provider: str
    rank: int
    key: str
    spec: dict[str, Any]


class _Converter:
    def __init__(self, file_name: str, checked: dt.date | None) -> None:
        self.file_name, self.checked = file_name, checked
        self.models: dict[tuple[str, str], _Model] = {}
        self.by_key: dict[str, tuple[str, str]] = {}
        self.sized: list[tuple[_Model, ImageKey]] = []
        self.aliases: list[tuple[str, str]] = []
        self.problems: list[str] = []

    def reject(self, key: str, why: str) -> None:
        self.problems.append(f"{self.file_name}: {key!r}: not imported: {why}")

    def partly(self, key: str, why: str) -> None:
        self.problems.append(f"{self.file_name}: {key!r}: imported without: {why}")

    def add(self, key: str, entry: object) -> None:
        if key in _META_KEYS:
            return
        if not isinstance(entry, Mapping):
            self.reject(key, f"an entry is an object, not {type(entry).__name__}")
        elif isinstance(entry.get("alias_of"), str) and not any(map(is_price_field, entry)):
            self.aliases.append((key, entry["alias_of"]))
        elif not isinstance(entry.get("litellm_provider"), str):
            self.reject(key, "no 'litellm_provider'")
        elif entry.get("mode") not in MODES:
            mode = entry.get("mode")
            why = "no 'mode'" if mode is None else f"mode {mode!r} has no llmtally kind"
            self.reject(key, why)
        else:
            self._add_model(key, entry)

    def _price(self, key: str, entry: Mapping[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        provider = canonical_provider("litellm", entry["litellm_provider"])
        info = known_provider(provider)
        raw = entry.get("source")
        source = raw if isinstance(raw, str) and _URL.match(raw) else None
        note = f"imported from {self.file_name}, entry {key!r}"
        if isinstance(raw, str) and source is None:
            note += f"; its source says: {raw}"
        pricing = info.pricing_url if info is not None else LITELLM_URL
        checked = {"checked": self.checked} if self.checked else {}
        return {"source": source or pricing, **checked, "note": note, **fields}

    def _add_model(self, key: str, entry: Mapping[str, Any]) -> None:
        source_provider = entry["litellm_provider"]
        provider = canonical_provider("litellm", source_provider)
        if not provider:
            self.reject(key, f"provider {source_provider!r} gives no usable id")
            return
        kind = MODES[entry["mode"]]
        image_key, rest = _image_key(key) if kind == "image" else (None, key)
        log = EntryLog(f"{self.file_name}: {key!r}")
        fields = price_fields(entry, kind, image_key, log)
        price = self._price(key, entry, fields)
        spec = {
            "id": strip_provider_prefix(rest, source_provider, provider),
            "kind": kind,
            "context_window": positive_int(entry.get("max_input_tokens")),
            "max_output_tokens": positive_int(entry.get("max_output_tokens")),
            "deprecated": _date(entry.get("deprecation_date")),
            "prices": [price],
        }
        if not log.rejected and not _has_price(price):
            log.reject("prices", "no price llmtally can use")
        if not log.rejected:
            self._validate(spec, log)
        if message := log.message():
            self.problems.append(message)
        if not log.rejected:
            info = known_provider(provider)
            rank = info.litellm.index(source_provider) if info else 0
            model = _Model(provider, source_provider, rank, key, spec)
            if image_key is not None:
                self.sized.append((model, image_key))
            else:
                self._keep(model)

    @staticmethod
    def _validate(spec: dict[str, Any], log: EntryLog) -> None:
        try:
            ModelSpec.model_validate(spec)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(part) for part in err["loc"])
                log.reject(where, err["msg"])

    def _keep(self, model: _Model) -> None:
        ident = (model.provider, model.spec["id"].lower())
        self.by_key[model.key] = ident
        held = self.models.get(ident)
        if held is None:
            self.models[ident] = model
            return
        kept, lost = (model, held) if model.rank < held.rank else (held, model)
        self.models[ident] = kept
        if _bare(lost.spec) != _bare(kept.spec):
            self.reject(
                lost.key,
                f"same model id {kept.spec['id']!r} as {kept.key!r} once the provider prefix "
                f"is removed, with different prices; kept {kept.key!r}",
            )

    def merge_sized(self) -> None:
        """Size/quality keys: their image prices join the model they name."""
        for model, _ in self.sized:
            ident = (model.provider, model.spec["id"].lower())
            held = self.models.get(ident)
            if held is None:
                self.models[ident] = model
                continue
            extra = [name for name in RATE_FIELDS if model.spec["prices"][0].get(name)]
            if extra:
                self.partly(model.key, f"{extra}: a size/quality entry gives only image prices")
            images = held.spec["prices"][0].setdefault("images", [])
            for image in model.spec["prices"][0]["images"]:
                same = [i for i in images if _image_slot(i) == _image_slot(image)]
                if not same:
                    images.append(image)
                elif same[0]["price"] != image["price"]:
                    clash = f"{image['price']} differs from {same[0]['price']} for that image"
                    self.partly(model.key, f"{image['size']} {image.get('quality')}: {clash}")

    def merge_aliases(self) -> None:
        for key, target in self.aliases:
            ident = self.by_key.get(target)
            if ident is None or ident not in self.models:
                self.reject(key, f"alias_of {target!r}, which was not imported")
                continue
            model = self.models[ident]
            alias = strip_provider_prefix(key, model.source_provider, model.provider)
            clash = self.models.get((model.provider, alias.lower()))
            if clash is not None and clash is not model:
                self.reject(key, f"alias {alias!r} is already the id of another model")
            elif alias.lower() != model.spec["id"].lower():
                model.spec.setdefault("aliases", []).append(alias)

    def result(self) -> ImportResult:
        self.merge_sized()
        self.merge_aliases()
        grouped: dict[str, list[ModelSpec]] = {}
        for (provider, _), model in sorted(self.models.items()):
            grouped.setdefault(provider, []).append(ModelSpec.model_validate(model.spec))
        files = [_provider_file(provider, models) for provider, models in grouped.items()]
        return ImportResult(files=files, problems=self.problems, source_name=self.file_name)


def _bare(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A model's prices less where they came from: to tell duplicates from conflicts."""
    return [{k: v for k, v in p.items() if k not in ("source", "note")} for p in spec["prices"]]


def _image_slot(image: Mapping[str, Any]) -> tuple[str, str]:
    return image["size"], image.get("quality", "standard")


def _provider_file(provider: str, models: list[ModelSpec]) -> ProviderFile:
    info = known_provider(provider)
    return ProviderFile(
        provider=provider,
        name=info.name if info else provider,
        pricing_url=info.pricing_url if info else LITELLM_URL,
        aliases=list(info.aliases) if info else [],
        models=models,
    )


def import_litellm(path: Path, *, checked: dt.date | None = None) -> ImportResult:
    """Every LiteLLM entry llmtally can price, by provider; a problem for each it cannot."""
    data = read_json(path, dict, "a LiteLLM price file")
    converter = _Converter(path.name, checked)
    for key, entry in data.items():
        converter.add(key, entry)
    return converter.result()
