"""The catalog: layered price files, name matching and the price in force at a time.

Layers, highest precedence first:
0. the user override file (custom models, negotiated discounts);
1. the built-in, hand-checked files (``catalog/data/<provider>.yaml``): dated
   history, tiers, context windows, each price sourced;
2. imported files (``llmtally prices import``), newest import first: they add
   the models the hand-checked files lack and refresh the seed, but never
   replace a hand-checked model (docs/decisions.md, "Import precedence");
3. the built-in seed files (``catalog/data/seed/<provider>.json``), taken
   from the public reference price tables, for breadth.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from llmtally.catalog.discount_check import checked_discounts
from llmtally.catalog.loader import read_provider_file, version_of
from llmtally.catalog.matching import MatchIndex, ModelRef
from llmtally.catalog.overrides import DiscountSpec, read_override_file
from llmtally.catalog.price import Price, price_from_spec
from llmtally.catalog.schema import ProviderFile

__all__ = [
    "BUILTIN_DIR",
    "Catalog",
    "NoPriceError",
    "hand_checked_files",
    "hand_checked_names",
    "imports_dir",
]

BUILTIN_DIR = Path(__file__).parent / "data"


class NoPriceError(LookupError):
    """The model is known but had no price at the time asked for."""


def imports_dir(home: Path) -> Path:
    return home / "catalog"


def hand_checked_files(builtin: Path = BUILTIN_DIR) -> list[Path]:
    return sorted(builtin.glob("*.yaml"))


def hand_checked_names(builtin: Path = BUILTIN_DIR) -> set[tuple[str, str]]:
    """(provider, lower-cased id or alias) of every hand-checked model."""
    names: set[tuple[str, str]] = set()
    for path in hand_checked_files(builtin):
        pf, _ = read_provider_file(path)
        for spec in pf.models:
            names.update((pf.provider, n.lower()) for n in (spec.id, *spec.aliases))
    return names


@dataclass(frozen=True, slots=True)
class _History:
    starts: list[dt.date]
    prices: list[Price]


class Catalog:
    """Every known model price, matched by rules, resolved by date."""

    def __init__(
        self,
        layers: Sequence[Sequence[ProviderFile]],
        discounts: Sequence[DiscountSpec] = (),
        version: str = "",
    ) -> None:
        self.version = version
        self._discounts = tuple(discounts)
        refs: list[ModelRef] = []
        aliases: dict[str, str] = {}
        self._pricing_urls: dict[str, str] = {}
        for rank, files in enumerate(layers):
            for pf in files:
                self._pricing_urls.setdefault(pf.provider, pf.pricing_url)
                for alias in pf.aliases:
                    aliases.setdefault(alias.lower(), pf.provider)
                refs.extend(ModelRef(pf.provider, spec, rank, pf.currency) for spec in pf.models)
        self._refs = refs
        self._provider_aliases = tuple(aliases)
        self.index = MatchIndex(refs, aliases)
        self._histories: dict[int, _History] = {}

    @classmethod
    def load(
        cls,
        home: Path | None = None,
        override: Path | None = None,
        builtin: Path = BUILTIN_DIR,
    ) -> Catalog:
        """The built-in catalog, plus imports under ``home`` and an override file."""
        contents: list[bytes] = []
        layers: list[list[ProviderFile]] = []
        discounts: list[DiscountSpec] = []
        raw_override = b""
        if override is not None and override.exists():
            spec, raw_override = read_override_file(override)
            contents.append(raw_override)
            discounts = list(spec.discounts)
            layers.append(list(spec.providers))
        else:
            layers.append([])
        import_files: list[Path] = []
        if home is not None and imports_dir(home).is_dir():
            found = [*imports_dir(home).glob("*.json"), *imports_dir(home).glob("*.yaml")]
            import_files = sorted(found, key=lambda p: -p.stat().st_mtime)
        for folder_files in (
            hand_checked_files(builtin),
            import_files,
            sorted((builtin / "seed").glob("*.json")),
        ):
            layer = []
            for path in folder_files:
                pf, raw = read_provider_file(path)
                contents.append(raw)
                layer.append(pf)
            layers.append(layer)
        catalog = cls(layers, (), version_of(contents))
        if discounts and override is not None:  # each must apply to something
            text = raw_override.decode("utf-8", errors="replace")
            catalog._discounts = tuple(catalog._checked(discounts, text, str(override)))
        return catalog

    def _checked(self, discounts: list[DiscountSpec], text: str, origin: str) -> list[DiscountSpec]:
        ids: dict[str, list[str]] = {}
        for ref in self._refs:
            ids.setdefault(ref.provider, []).append(ref.spec.id)
        return checked_discounts(discounts, self.index, ids, self._provider_aliases, text, origin)

    @property
    def providers(self) -> list[str]:
        return sorted(self.index.providers)

    def pricing_url(self, provider: str) -> str | None:
        return self._pricing_urls.get(provider)

    def lookup(self, provider: str | None, model: str) -> ModelRef:
        return self.index.find(provider, model)

    def refs(self) -> Iterator[ModelRef]:
        """Every model, once: a model whose id a higher layer names (as id or alias) is left out."""
        seen: set[tuple[str, str]] = set()
        for ref in sorted(self._refs, key=lambda r: r.layer):
            if (ref.provider, ref.spec.id.lower()) in seen:
                continue
            seen.update((ref.provider, n.lower()) for n in (ref.spec.id, *ref.spec.aliases))
            yield ref

    def history(self, ref: ModelRef) -> list[Price]:
        return self._history(ref).prices

    def _history(self, ref: ModelRef) -> _History:
        hist = self._histories.get(id(ref.spec))
        if hist is None:
            factor = self._discount(ref)
            prices = [
                price_from_spec(ref.provider, ref.spec.id, p, self.version, ref.currency)
                for p in ref.spec.prices
            ]
            if factor is not None:
                prices = [p.scaled(factor) for p in prices]
            starts = [p.effective or dt.date.min for p in prices]
            hist = _History(starts, prices)
            self._histories[id(ref.spec)] = hist
        return hist

    def _discount(self, ref: ModelRef) -> Decimal | None:
        factor = None
        for d in self._discounts:
            if d.applies(ref.provider, ref.spec.id):
                factor = (factor or Decimal(1)) * d.factor
        return factor

    def price_at(self, provider: str | None, model: str, at: dt.datetime | None = None) -> Price:
        """The price of ``model`` in force at ``at`` (default: now, UTC)."""
        ref = self.index.find(provider, model)
        return self.price_of(ref, at)

    def price_of(self, ref: ModelRef, at: dt.datetime | None = None) -> Price:
        moment = at or dt.datetime.now(dt.UTC)
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC)
        hist = self._history(ref)
        pos = bisect.bisect_right(hist.starts, moment.date()) - 1
        if pos < 0:
            raise NoPriceError(
                f"{ref.provider}/{ref.spec.id} had no price on {moment.date().isoformat()}; "
                f"its first price took effect {hist.starts[0].isoformat()}"
            )
        return hist.prices[pos].in_window(moment)
