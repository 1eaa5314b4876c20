"""One strategy's targets over one candle series, whatever its kind.

An optimizer asks one `StrategyTargets` for every parameter set of a chunk, so what a kind
computes from the candles is shared: a built-in's indicator cache, an expression strategy's
sub-expressions. A plugin's own code runs on every call, and is guarded against look-ahead.
"""

from collections.abc import Mapping

from domain.execution.settings import Direction

from domain.market.candles import Candles
from domain.strategies import StrategyEntry
from domain.strategies.definitions import definition_of
from domain.targets.builtin_targets import Params, Targets
from domain.targets.expression_rules import PositionRules, RuleEvaluator
from domain.targets.indicator_cache import IndicatorCache
from domain.targets.plugin_targets import StrategyError, look_ahead_violation, raw_plugin_targets
from domain.targets.signals import allow_direction, target_positions


class StrategyTargets:
    def __init__(
        self, entry: StrategyEntry, candles: Candles, cache: IndicatorCache | None = None
    ) -> None:
        self.entry = entry
        self.candles = candles
        self._cache: IndicatorCache | None = None
        self._evaluator: RuleEvaluator | None = None
        if entry.kind == "builtin":
            if cache is not None and cache.candles is not candles:
                raise ValueError("the indicator cache belongs to other candles")
            self._cache = cache or IndicatorCache(candles)
        elif entry.kind == "expression":
            self._rules = PositionRules.of(definition_of(entry))
            self._evaluator = RuleEvaluator(candles)

    @property
    def indicator_cache(self) -> IndicatorCache | None:
        return self._cache

    def __call__(self, params: Params, direction: Direction) -> Targets:
        """The target per bar for one complete parameter set; StrategyError if user code fails."""
        if self._cache is not None:
            return target_positions(self._cache, self.entry.name, params, direction)
        if self._evaluator is not None:
            return self._evaluator.targets(self._rules, params, direction)
        return allow_direction(self.plugin_targets(self.candles, params), direction)

    def plugin_targets(self, candles: Candles, params: Mapping[str, int | float]) -> Targets:
        if self.entry.plugin is None:
            raise ValueError(f"{self.entry.name} is not a plugin")
        return raw_plugin_targets(self.entry.plugin, candles, params)

    def guard(self, params: Params) -> None:
        """For a plugin: StrategyError `look-ahead: ...` when a decision used later bars."""
        if self.entry.kind != "plugin":
            return
        full = self.plugin_targets(self.candles, params)
        reason = look_ahead_violation(
            lambda cut: self.plugin_targets(cut, params), self.candles, full
        )
        if reason is not None:
            raise StrategyError(reason)
