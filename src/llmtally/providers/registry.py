"""The contract every usage parser plugs into, and the tools parsers share.

A parser turns one provider's ``usage`` object into a :class:`~llmtally.usage.Usage`.
Parsers enter through :meth:`Registry.register`, the built-in ones and a test
double alike; :meth:`Registry.parse` is the one place that names the provider
in an error message.

Parsers read counts through :class:`Fields`, so that every malformed count is
reported with its full path (``usage.prompt_tokens_details.cached_tokens``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from llmtally.usage import Usage, UsageError

__all__ = [
    "Fields",
    "InconsistentUsageError",
    "ProviderUsageError",
    "Registry",
    "UnknownProviderError",
    "UsageParser",
]

UsageParser = Callable[[Mapping[str, Any]], Usage]


class ProviderUsageError(ValueError):
    """A provider's usage object that cannot be read: bad counts, missing totals."""


class InconsistentUsageError(ProviderUsageError, UsageError):
    """Counts that read well one by one but cannot all be true (a subset above its total)."""


class UnknownProviderError(ProviderUsageError, LookupError):
    """No parser is registered under that provider name."""

    def __init__(self, provider: str, known: str) -> None:
        super().__init__(f"unknown provider {provider!r}; known: {known}")
        self.provider = provider


def _key(name: str) -> str:
    return name.strip().lower()


class Registry:
    """Provider names (case-insensitive, with aliases) -> usage parsers."""

    def __init__(self) -> None:
        self._parsers: dict[str, UsageParser] = {}
        self._aliases: dict[str, str] = {}

    def register(self, provider: str, parser: UsageParser, *, aliases: Iterable[str] = ()) -> None:
        """Add ``parser`` under ``provider`` and its ``aliases``; a name is taken once."""
        canonical = _key(provider)
        names = [canonical, *(_key(alias) for alias in aliases)]
        for name in names:
            if not name:
                raise ValueError("a provider name may not be empty")
            if name in self._aliases or names.count(name) > 1:
                raise ValueError(f"provider name {name!r} is already registered")
        self._parsers[canonical] = parser
        for name in names:
            self._aliases[name] = canonical

    @property
    def providers(self) -> tuple[str, ...]:
        """The canonical provider ids, sorted."""
        return tuple(sorted(self._parsers))

    def canonical(self, provider: str) -> str:
        """The canonical id for ``provider`` or one of its aliases."""
        try:
            return self._aliases[_key(provider)]
        except KeyError:
            raise UnknownProviderError(provider, self._describe()) from None

    def parser_for(self, provider: str) -> UsageParser:
        return self._parsers[self.canonical(provider)]

    def parse(self, provider: str, usage: Mapping[str, Any]) -> Usage:
        """Parse ``usage`` with the provider's parser; errors name the provider."""
        canonical = self.canonical(provider)
        try:
            return self._parsers[canonical](usage)
        except UsageError as exc:
            raise InconsistentUsageError(f"{canonical}: {exc}") from exc
        except ProviderUsageError as exc:
            raise ProviderUsageError(f"{canonical}: {exc}") from exc

    def _describe(self) -> str:
        parts = []
        for name in self.providers:
            aliases = sorted(a for a, c in self._aliases.items() if c == name and a != name)
            parts.append(f"{name} ({', '.join(aliases)})" if aliases else name)
        return ", ".join(parts) if parts else "none registered"


class Fields:
    """Typed reads from one usage mapping; every error names the field's path."""

    def __init__(self, data: object, path: str = "usage") -> None:
        if not isinstance(data, Mapping):
            raise ProviderUsageError(f"{path}: must be an object, got {data!r}")
        self._data: Mapping[str, Any] = data
        self.path = path

    def __contains__(self, name: str) -> bool:
        return self._data.get(name) is not None

    def _where(self, name: str) -> str:
        return f"{self.path}.{name}"

    def count(self, name: str, default: int = 0) -> int:
        """A whole number >= 0; ``default`` when the field is missing or null."""
        value = self._data.get(name)
        if value is None:
            return default
        return check_count(value, self._where(name))

    def required(self, name: str) -> int:
        """A count that must be present."""
        if name not in self._data:
            raise ProviderUsageError(f"{self._where(name)}: required field is missing")
        if self._data[name] is None:
            raise ProviderUsageError(f"{self._where(name)}: required field is null")
        return check_count(self._data[name], self._where(name))

    def optional(self, name: str) -> int | None:
        """A count, or None when the field is missing or null."""
        value = self._data.get(name)
        return None if value is None else check_count(value, self._where(name))

    def child(self, name: str) -> Fields:
        """A nested object; missing or null reads as an empty one."""
        value = self._data.get(name)
        return Fields({} if value is None else value, self._where(name))

    def items(self, name: str) -> list[Fields]:
        """A nested list of objects; missing or null reads as an empty list."""
        value = self._data.get(name)
        if value is None:
            return []
        where = self._where(name)
        if not isinstance(value, list | tuple):
            raise ProviderUsageError(f"{where}: must be a list or null, got {value!r}")
        return [Fields(item, f"{where}[{i}]") for i, item in enumerate(value)]

    def text(self, name: str) -> str | None:
        """A string, or None when the field is missing or null."""
        value = self._data.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ProviderUsageError(f"{self._where(name)}: must be a string, got {value!r}")
        return value


def check_count(value: object, where: str) -> int:
    """``value`` as a token count, or a :class:`ProviderUsageError` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProviderUsageError(f"{where}: must be a whole number >= 0, got {value!r}")
    return value
