"""The strategy registry: declared once, read by the API to validate and by the engine to run."""

from shared.strategies.builtin import BUILTIN_STRATEGIES
from shared.strategies.entry import StrategyEntry, StrategyKind
from shared.strategies.params import LessThanRule, ParamError, ParamRule, ParamSpec, ParamValue
from shared.strategies.registry import (
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
