"""The strategy registry: every strategy a request may name, looked up and checked by name.

The API reads it to validate requests and list `GET /strategies`; the engine reads it to
run them. Today it holds the built-ins; other kinds join as entries of the same registry.
"""

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from domain.strategies.builtin import BUILTIN_STRATEGIES
from domain.strategies.entry import StrategyEntry
from domain.strategies.params import ParamError, ParamRule, ParamValue
from domain.strategies.plugins import Plugin, load_plugins

log = logging.getLogger(__name__)


class StrategyRegistry:
    def __init__(self, entries: Iterable[StrategyEntry]) -> None:
        self._entries: dict[str, StrategyEntry] = {}
        for entry in entries:
            if entry.name in self._entries:
                raise ValueError(f"two strategies are named {entry.name!r}")
            self._entries[entry.name] = entry

    def with_plugins(self, plugins: Iterable[Plugin]) -> "StrategyRegistry":
        """This registry and the plugins (available or not); a name taken keeps its owner."""
        entries = dict(self._entries)
        for plugin in plugins:
            taken = entries.get(plugin.name)
            if taken is not None:
                log.warning("plugin %s ignored: %s is a %s", plugin.path, plugin.name, taken.kind)
                continue
            entries[plugin.name] = plugin.entry()
        return StrategyRegistry(entries.values())

    def __iter__(self) -> Iterator[StrategyEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def entry(self, name: Any, field: str = "strategy.name") -> StrategyEntry:
        """The entry named `name`, or ParamError at `field` listing the names that exist."""
        entry = self._entries.get(name) if isinstance(name, str) else None
        if entry is None:
            raise ParamError(field, f"unknown strategy; choose one of {', '.join(self._entries)}")
        if entry.error is not None:
            raise ParamError(field, f"strategy {entry.name} is unavailable: {entry.error}")
        return entry

    def as_json(self) -> list[dict[str, Any]]:
        """Every entry as a JSON-able dict, for GET /strategies."""
        return [entry.as_json() for entry in self]


STRATEGIES = StrategyRegistry(BUILTIN_STRATEGIES)


def strategies_with_plugins(strategy_path: str) -> StrategyRegistry:
    """What a process may run: the built-ins and the plugins of `STRATEGY_PATH`."""
    return STRATEGIES.with_plugins(load_plugins(strategy_path).values())


# The registry this process validates and runs requests against. Each entry point (the API,
# an engine worker and each of its pool processes) installs its own once at start, so that
# requests parsed anywhere in it, in the event loop or in the pool, see the same plugins.
_installed = STRATEGIES


def install_strategies(strategy_path: str) -> StrategyRegistry:
    global _installed
    _installed = strategies_with_plugins(strategy_path)
    return _installed


def installed_strategies() -> StrategyRegistry:
    return _installed


def strategy_entry(name: Any, field: str = "strategy.name") -> StrategyEntry:
    """An entry of the registry this process installed (the built-ins by default)."""
    return _installed.entry(name, field)


def resolve_params(
    name: Any, params: Mapping[str, Any] | None = None, prefix: str = "strategy.params"
) -> dict[str, ParamValue]:
    """Every parameter of strategy `name`, defaults filled in, checked; or ParamError."""
    return strategy_entry(name).resolve_params(params, prefix)


def broken_rule(name: str, params: Mapping[str, ParamValue]) -> ParamRule | None:
    """The first of strategy `name`'s own rules that complete `params` break, if any."""
    return strategy_entry(name).broken_rule(params)
