"""Checking an override file's discounts against the catalog they apply to.

A discount names a provider and, optionally, shell-style model patterns. A
provider that is not known (``alibabacn`` for ``alibaba-cn``) or a pattern that
matches none of that provider's models applies nothing, silently: both are
errors naming the file, the line and the nearest known names, like the other
price-file errors. A known provider alias is taken, and the discount is kept
under the provider's own name (the name it is matched against).
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable, Sequence
from typing import Protocol

from llmtally.catalog.loader import CatalogFileError, line_of
from llmtally.catalog.overrides import DiscountSpec

__all__ = ["checked_discounts"]


class _Index(Protocol):
    @property
    def providers(self) -> set[str]: ...

    def canonical_provider(self, provider: str) -> str | None: ...


def _nearest(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    return difflib.get_close_matches(name, sorted(known), n=n, cutoff=0.6)


def _unknown_provider(spec: DiscountSpec, known: set[str], where: str) -> CatalogFileError:
    near = _nearest(spec.provider.lower(), known)
    hint = f"nearest known: {', '.join(near)}" if near else f"known: {', '.join(sorted(known))}"
    return CatalogFileError(
        f"{where}: discounts: unknown provider {spec.provider!r}, so the discount "
        f"applies to nothing; {hint}"
    )


def _unmatched(pattern: str, provider: str, ids: list[str], where: str) -> CatalogFileError:
    near = _nearest(pattern.replace("*", "").replace("?", ""), ids)
    hint = f"; nearest: {', '.join(near)}" if near else ""
    return CatalogFileError(
        f"{where}: discounts: {pattern!r} matches no model of {provider}, so it "
        f"applies to nothing{hint}"
    )


def checked_discounts(
    discounts: Sequence[DiscountSpec],
    index: _Index,
    model_ids: dict[str, list[str]],
    aliases: Iterable[str],
    text: str,
    origin: str,
) -> list[DiscountSpec]:
    """``discounts`` under their providers' own names, or the first that applies to
    nothing as a :class:`CatalogFileError` at its file and line. ``model_ids``: each
    provider's model ids (what a pattern is matched against)."""
    known = index.providers | set(aliases)
    out = []
    for i, spec in enumerate(discounts):
        provider = index.canonical_provider(spec.provider)
        if provider is None:
            where = f"{origin}:{line_of(text, ('discounts', i, 'provider'))}"
            raise _unknown_provider(spec, known, where)
        ids = model_ids.get(provider, [])
        for j, pattern in enumerate(spec.models):
            if not any(fnmatch.fnmatch(model, pattern) for model in ids):
                where = f"{origin}:{line_of(text, ('discounts', i, 'models', j))}"
                raise _unmatched(pattern, provider, ids, where)
        out.append(
            spec if provider == spec.provider else spec.model_copy(update={"provider": provider})
        )
    return out
