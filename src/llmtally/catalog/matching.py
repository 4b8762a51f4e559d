"""Model names -> catalog entries, by rules in a fixed order.

1. exact: a model id or alias;
2. dated snapshot: the name less a date suffix (``-2024-08-06``, ``-20241022``,
   ``-0613``, ``@20240229``) is an id or alias;
3. prefix rules (longest prefix wins);
4. regex rules.

Within each rule, a layer of higher precedence wins (override file, then the
hand-checked files, imports, seed); rules 1 and 2 are one step, so a dated
snapshot of a hand-checked model is that model even where a lower layer lists
the snapshot's exact name (its dated price history is kept). Provider
prefixes (``openai/gpt-4o``) are peeled off before matching and narrow the
search to that provider. A miss is an :class:`UnknownModelError` that names
the nearest known names, each as ``provider/name``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from llmtally.catalog.schema import ModelSpec

__all__ = ["MatchIndex", "ModelRef", "UnknownModelError", "UnknownProviderError"]

_SNAPSHOT = re.compile(r"(?:[-@](?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4}))$")


# Names a lookup remembers, found or not; at this many the memory starts again (model
# names come from requests: any number of distinct ones may arrive).
MAX_REMEMBERED = 4096


def _bounded_put(table: dict[Any, Any], key: Any, value: Any) -> None:
    if len(table) >= MAX_REMEMBERED:
        table.clear()
    table[key] = value


class UnknownModelError(LookupError):
    def __init__(self, model: str, provider: str | None, near: list[str]) -> None:
        where = f" for provider {provider!r}" if provider else ""
        hint = f"; nearest known: {', '.join(near)}" if near else ""
        super().__init__(f"unknown model {model!r}{where}{hint}")
        self.model, self.provider, self.near = model, provider, near


class UnknownProviderError(LookupError):
    def __init__(self, provider: str, known: Iterable[str]) -> None:
        super().__init__(f"unknown provider {provider!r}; known: {', '.join(sorted(known))}")
        self.provider = provider


@dataclass(frozen=True, slots=True)
class ModelRef:
    """One model of one provider in one catalog layer."""

    provider: str
    spec: ModelSpec
    layer: int  # 0 = highest precedence
    currency: str = "USD"  # the provider file's billing currency


@dataclass(slots=True)
class _Rules:
    exact: dict[str, list[ModelRef]] = field(default_factory=dict)
    prefix: list[tuple[str, ModelRef]] = field(default_factory=list)
    regex: list[tuple[re.Pattern[str], ModelRef]] = field(default_factory=list)


class MatchIndex:
    """Name rules over every model of every layer."""

    def __init__(self, refs: Iterable[ModelRef], provider_aliases: dict[str, str]) -> None:
        self._aliases = provider_aliases
        self._rules = _Rules()
        self._names: dict[str, set[str]] = {}
        for ref in sorted(refs, key=lambda r: r.layer):
            self._add(ref)
        self._rules.prefix.sort(key=lambda item: (-len(item[0]), item[1].layer))
        self._cache: dict[tuple[str | None, str], ModelRef] = {}
        # names found unknown: the provider tried and the nearest names (the
        # difflib search costs ~1-2 ms, and a gateway sees the same name again)
        self._unknown: dict[tuple[str | None, str], tuple[str | None, list[str]]] = {}

    def _add(self, ref: ModelRef) -> None:
        names = {ref.spec.id.lower(), *(a.lower() for a in ref.spec.aliases)}
        for name in names:
            self._rules.exact.setdefault(name, []).append(ref)
        self._names.setdefault(ref.provider, set()).update(names)
        if ref.spec.match is not None:
            self._rules.prefix.extend((p.lower(), ref) for p in ref.spec.match.prefix)
            self._rules.regex.extend(
                (re.compile(rx, re.IGNORECASE), ref) for rx in ref.spec.match.regex
            )

    @property
    def providers(self) -> set[str]:
        return set(self._names)

    def canonical_provider(self, provider: str) -> str | None:
        name = provider.strip().lower()
        return self._aliases.get(name, name if name in self._names else None)

    def _candidates(self, provider: str | None, model: str) -> list[tuple[str | None, str]]:
        """(provider, name) pairs to try, in order, peeling provider prefixes.

        A provider named by the caller is tried with the whole name first (a
        host such as Groq lists ``openai/gpt-oss-120b`` under its own prices);
        a prefix naming another provider is tried after that, under both.
        """
        chosen = self.canonical_provider(provider) if provider else None
        name = model.strip()
        tried: list[tuple[str | None, str]] = [(chosen, name.lower())] if chosen else []
        while "/" in name:
            head, rest = name.split("/", 1)
            owner = self.canonical_provider(head)
            if owner is None and head.lower() != "models":
                break
            name = rest
            if chosen and owner and owner != chosen:
                tried.append((chosen, name.lower()))
            chosen = chosen or owner
            tried.append((owner or chosen, name.lower()))
        if not tried:
            if provider:
                raise UnknownProviderError(provider, self.providers | set(self._aliases))
            tried.append((None, name.lower()))
        return list(dict.fromkeys(tried))

    def find(self, provider: str | None, model: str) -> ModelRef:
        key = (provider, model)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        unknown = self._unknown.get(key)
        if unknown is not None:
            raise UnknownModelError(model, *unknown)
        try:
            hit = self._find(provider, model)
        except UnknownModelError as exc:
            _bounded_put(self._unknown, key, (exc.provider, exc.near))
            raise
        _bounded_put(self._cache, key, hit)
        return hit

    def _find(self, provider: str | None, model: str) -> ModelRef:
        candidates = self._candidates(provider, model)
        for chosen, name in candidates:
            hit = self._match(chosen, name)
            if hit is not None:
                return hit
        chosen, name = candidates[-1]
        raise UnknownModelError(model, chosen, self.near(chosen, name))

    def _match(self, chosen: str | None, name: str) -> ModelRef | None:
        def ok(ref: ModelRef) -> bool:
            return chosen is None or ref.provider == chosen

        named = [
            refs[0]
            for candidate in (name, _SNAPSHOT.sub("", name))
            if (refs := [r for r in self._rules.exact.get(candidate, ()) if ok(r)])
        ]
        if named:  # the higher layer wins; within a layer, the exact name
            return min(named, key=lambda ref: ref.layer)
        for prefix, ref in self._rules.prefix:
            if name.startswith(prefix) and ok(ref):
                return ref
        for pattern, ref in self._rules.regex:
            if pattern.fullmatch(name) and ok(ref):
                return ref
        return None

    def near(self, provider: str | None, name: str, n: int = 5) -> list[str]:
        """Up to ``n`` known names close to ``name``, each as ``provider/name``
        (a name every command takes back). A name several providers list comes
        with its providers in resolution order (the one a bare name gets first)."""
        owners: dict[str, list[str]] = {}
        for owner, names in self._names.items():
            if provider is None or owner == provider:
                for known in names:
                    owners.setdefault(known, []).append(owner)
        hits = difflib.get_close_matches(name.lower(), sorted(owners), n=n, cutoff=0.5)
        return [f"{owner}/{hit}" for hit in hits for owner in owners[hit]][:n]
