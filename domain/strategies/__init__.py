"""The strategy registry: declared once, read by the API to validate and by the engine to run."""

from domain.strategies.builtin import BUILTIN_STRATEGIES
from domain.strategies.entry import StrategyEntry, StrategyKind
from domain.strategies.params import LessThanRule, ParamError, ParamRule, ParamSpec, ParamValue
from domain.strategies.registry import (
    STRATEGIES,
    StrategyRegistry,
    broken_rule,
    install_strategies,
    installed_strategies,
    resolve_params,
    strategies_with_plugins,
    strategy_entry,
)

__all__ = [
    "BUILTIN_STRATEGIES",
    "STRATEGIES",
    "LessThanRule",
    "ParamError",
    "ParamRule",
    "ParamSpec",
    "ParamValue",
    "StrategyEntry",
    "StrategyKind",
    "StrategyRegistry",
    "broken_rule",
    "install_strategies",
    "installed_strategies",
    "resolve_params",
    "strategies_with_plugins",
    "strategy_entry",
]
