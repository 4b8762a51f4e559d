"""pydantic/genai-prices ``data.json`` -> llmtally price files.

- Prices are already USD per 1M tokens (``*_mtok``); ``requests_kcount`` is
  per 1000 requests and becomes ``request`` (per request).
- A tiered price ``{"base": b, "tiers": [{"start": n, "price": p}]}`` becomes a
  long-context cliff ``above: n``. genai-prices applies a tier to the whole
  request once its input passes ``start`` (early versions priced tiers
  marginally), and the providers it encodes this way (Anthropic, Google)
  publish these tiers as whole-request cliffs, which is what llmtally's
  ``long_context`` means.
- A list of conditional prices becomes dated history (``start_date``) or UTC
  time-of-day ``windows`` (``start_time``/``end_time``); other shapes are
  reported. genai-prices tries the last price first, so later windows come
  first in llmtally's list (the first window that holds wins). A window's
  rates overlay the base rates, so a rate a window leaves out keeps its base
  price. The first price is the fallback whatever its constraint, so it has no
  ``effective`` date.
- Match rules: ``equals`` -> aliases, ``starts_with`` -> prefix, any other
  clause -> an equivalent full-match regex.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmtally.catalog.importers.common import (
    BadValue,
    EntryLog,
    ImportResult,
    canonical_provider,
    cumulative_cliffs,
    known_provider,
    money,
    plain,
    positive_int,
    read_json,
)
from llmtally.catalog.schema import ModelSpec, ProviderFile

__all__ = ["GENAI_URL", "clause_matches", "import_genai_prices", "match_rules"]

GENAI_URL = "https://github.com/pydantic/genai-prices"
_RATES = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write",
    "input_audio_mtok": "input_audio",
    "output_audio_mtok": "output_audio",
}
_THOUSAND = 1000


def clause_matches(clause: Mapping[str, Any], name: str) -> bool:
    """genai-prices' own match semantics (case-sensitive; ``regex`` searches)."""
    (op, arg), *_ = clause.items()
    if op == "equals":
        return bool(name == arg)
    if op == "starts_with":
        return name.startswith(arg)
    if op == "ends_with":
        return name.endswith(arg)
    if op == "contains":
        return arg in name
    if op == "regex":
        return re.search(arg, name) is not None
    if op == "or":
        return any(clause_matches(c, name) for c in arg)
    if op == "and":
        return all(clause_matches(c, name) for c in arg)
    raise ValueError(f"unknown match clause {op!r}")


def _clause_regex(clause: Mapping[str, Any]) -> str:
    """A regex that full-matches exactly the names the clause matches."""
    (op, arg), *_ = clause.items()
    if op in ("or", "and"):
        parts = [_clause_regex(c) for c in arg]
        if op == "or":
            return "(?:" + "|".join(parts) + ")"
        return "".join(rf"(?=(?:{part})\Z)" for part in parts) + ".*"
    if op == "regex":
        return f".*(?:{arg}).*"
    forms = {"equals": "{}", "starts_with": "{}.*", "ends_with": ".*{}", "contains": ".*{}.*"}
    if op not in forms:
        raise ValueError(f"unknown match clause {op!r}")
    return forms[op].format(re.escape(arg))


def match_rules(clause: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(aliases, prefixes, regexes) that together match what the clause matches."""
    (op, arg), *_ = clause.items()
    if op == "equals":
        return [arg], [], []
    if op == "starts_with":
        return [], [arg], []
    if op != "or":
        return [], [], [_clause_regex(clause)]
    aliases: list[str] = []
    prefixes: list[str] = []
    regexes: list[str] = []
    for sub in arg:
        a, p, r = match_rules(sub)
        aliases += a
        prefixes += p
        regexes += r
    return aliases, prefixes, regexes


def _amount(name: str, value: object, by_threshold: dict[int, dict[str, Any]]) -> Any:
    """One ``*_mtok`` value: a number, or base + tiers (tiers go to ``by_threshold``)."""
    if not isinstance(value, Mapping):
        return plain(money(value))
    tiers = value.get("tiers")
    if "base" not in value or not isinstance(tiers, list):
        raise BadValue("a tiered price needs 'base' and a list of 'tiers'")
    for tier in tiers:
        start = tier.get("start") if isinstance(tier, Mapping) else None
        if not isinstance(start, int) or isinstance(start, bool) or start <= 0:
            raise BadValue(f"tier {tier!r} has no positive integer 'start'")
        by_threshold.setdefault(start, {})[_RATES[name]] = plain(money(tier.get("price")))
    return plain(money(value["base"]))


def _rates(prices: object, where: str, log: EntryLog) -> dict[str, Any]:
    """A genai-prices ``ModelPrice`` -> rates and long-context cliffs."""
    if not isinstance(prices, Mapping):
        log.reject(where, "prices are an object of *_mtok fields")
        return {}
    out: dict[str, Any] = {}
    by_threshold: dict[int, dict[str, Any]] = {}
    for name, value in prices.items():
        try:
            if name == "requests_kcount":
                out["request"] = plain(money(value) / _THOUSAND)
            elif name in _RATES:
                out[_RATES[name]] = _amount(name, value, by_threshold)
            elif value != 0:
                log.skip(f"{where}.{name}", "llmtally has no price of this kind")
        except BadValue as exc:
            log.reject(f"{where}.{name}", str(exc))
    return {**out, "long_context": cumulative_cliffs(by_threshold)}


def _utc(text: object) -> dt.time:
    if not isinstance(text, str):
        raise BadValue(f"{text!r} is not a time")
    try:
        moment = dt.time.fromisoformat(text)
    except ValueError:
        raise BadValue(f"{text!r} is not a time") from None
    shift = moment.utcoffset() or dt.timedelta(0)
    day = dt.datetime.combine(dt.date(2000, 1, 2), moment.replace(tzinfo=None))
    return (day - shift).time()


def _window(item: Mapping[str, Any], where: str, log: EntryLog) -> dict[str, Any]:
    rates = _rates(item.get("prices"), f"{where}.prices", log)
    if rates.pop("long_context"):
        log.reject(where, "a time-of-day price with long-context tiers has no llmtally form")
    constraint = item["constraint"]
    try:
        return {
            "start": _utc(constraint["start_time"]),
            "end": _utc(constraint["end_time"]),
            **rates,
        }
    except BadValue as exc:
        log.reject(f"{where}.constraint", str(exc))
        return {}


def _conditional(items: list[Any], log: EntryLog) -> list[dict[str, Any]]:
    """Conditional prices -> dated entries, the first carrying any time-of-day windows."""
    if not items or not all(isinstance(i, Mapping) for i in items):
        log.reject("prices", "an empty list, or one with items that are not objects")
        return []
    first = items[0].get("constraint")
    if first is not None and "start_date" not in first:
        log.reject("prices[0].constraint", "the fallback price may carry a start date only")
    entries = [_rates(items[0].get("prices"), "prices[0]", log)]
    windows: list[dict[str, Any]] = []
    for pos, item in enumerate(items[1:], 1):
        where, constraint = f"prices[{pos}]", item.get("constraint")
        keys = set(constraint) if isinstance(constraint, Mapping) else set()
        if keys == {"start_date"}:
            entry = _rates(item.get("prices"), f"{where}.prices", log)
            entries.append({"effective": constraint["start_date"], **entry})
        elif keys == {"start_time", "end_time"}:
            windows.insert(0, _window(item, where, log))
        else:
            log.reject(where, f"constraint {constraint!r} has no llmtally form")
    if windows and len(entries) > 1:
        log.reject("prices", "start dates and time-of-day windows together have no llmtally form")
    entries[0]["windows"] = windows
    return entries


def _validated(spec: dict[str, Any], log: EntryLog) -> ModelSpec | None:
    try:
        return ModelSpec.model_validate(spec)
    except ValidationError as exc:
        for err in exc.errors():
            log.reject(".".join(str(part) for part in err["loc"]), err["msg"])
        return None


class _Converter:
    def __init__(self, file_name: str, checked: dt.date | None) -> None:
        self.file_name, self.checked = file_name, checked
        self.problems: list[str] = []

    def model(self, provider: str, url: str, raw: object) -> ModelSpec | None:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str):
            self.problems.append(f"{self.file_name}: {provider}: a model without an 'id'")
            return None
        log = EntryLog(f"{self.file_name}: {provider}/{raw['id']}")
        spec = self._spec(raw, url, log)
        model = None if log.rejected else _validated(spec, log)
        if message := log.message():
            self.problems.append(message)
        return model

    def _spec(self, raw: Mapping[str, Any], url: str, log: EntryLog) -> dict[str, Any]:
        ident: str = raw["id"]
        prices = raw.get("prices")
        entries = _conditional(prices, log) if isinstance(prices, list) else []
        if not isinstance(prices, list):
            entries = [_rates(prices, "prices", log)]
            entries[0]["windows"] = []
        note = f"imported from {self.file_name}"
        if raw.get("deprecated") is True:
            note += "; deprecated"
        if isinstance(raw.get("price_comments"), str):
            note += f"; genai-prices: {raw['price_comments']}"
        checked = {"checked": self.checked} if self.checked else {}
        spec: dict[str, Any] = {
            "id": ident,
            "name": raw.get("name") if isinstance(raw.get("name"), str) else None,
            "kind": "embedding" if "embed" in ident.lower() else "chat",
            "context_window": positive_int(raw.get("context_window")),
            "prices": [{"source": url, **checked, "note": note, **e} for e in entries],
        }
        return {**spec, **self._match(ident, raw.get("match"), log)}

    @staticmethod
    def _match(ident: str, clause: object, log: EntryLog) -> dict[str, Any]:
        if not isinstance(clause, Mapping) or len(clause) != 1:
            log.skip("match", "not a single match clause; the model matches by its id only")
            return {}
        try:
            aliases, prefixes, regexes = match_rules(clause)
        except ValueError as exc:
            log.skip("match", f"{exc}; the model matches by its id only")
            return {}
        aliases = list(dict.fromkeys(a for a in aliases if a.lower() != ident.lower()))
        match = {"prefix": prefixes, "regex": regexes} if prefixes or regexes else None
        return {"aliases": aliases, "match": match}

    def provider(self, raw: object) -> ProviderFile | None:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str):
            self.problems.append(f"{self.file_name}: a provider without an 'id'")
            return None
        provider = canonical_provider("genai-prices", raw["id"])
        if not provider:
            self.problems.append(f"{self.file_name}: provider {raw['id']!r} gives no usable id")
            return None
        urls = raw.get("pricing_urls")
        url = urls[0] if isinstance(urls, list) and urls and isinstance(urls[0], str) else None
        models: list[ModelSpec] = []
        for item in raw.get("models") or ():
            model = self.model(provider, url or GENAI_URL, item)
            if model is not None:
                models.append(model)
        info = known_provider(provider)
        name = raw.get("name")
        return ProviderFile(
            provider=provider,
            name=name if isinstance(name, str) else provider,
            pricing_url=url or GENAI_URL,
            aliases=list(info.aliases) if info else [],
            models=models,
        )


def _one_per_provider(
    files: list[ProviderFile], problems: list[str], name: str
) -> list[ProviderFile]:
    """One file per provider id and one entry per model id (the first one wins)."""
    merged: dict[str, ProviderFile] = {}
    for pf in files:
        held = merged.setdefault(pf.provider, pf.model_copy(update={"models": []}))
        seen = {m.id.lower() for m in held.models}
        models = list(held.models)
        for model in pf.models:
            if model.id.lower() in seen:
                problems.append(f"{name}: {pf.provider}/{model.id}: not imported: a second entry")
            else:
                seen.add(model.id.lower())
                models.append(model)
        merged[pf.provider] = held.model_copy(update={"models": models})
    return [pf for pf in merged.values() if pf.models]


def import_genai_prices(path: Path, *, checked: dt.date | None = None) -> ImportResult:
    """Every genai-prices model llmtally can price, by provider; a problem for each it cannot."""
    data = read_json(path, list, "a genai-prices data file")
    converter = _Converter(path.name, checked)
    files = [pf for raw in data if (pf := converter.provider(raw)) is not None]
    files = _one_per_provider(files, converter.problems, path.name)
    return ImportResult(files=files, problems=converter.problems, source_name=path.name)
