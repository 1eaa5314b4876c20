"""Python strategy plugins: the files of `STRATEGY_PATH` loaded, their metadata checked.

Each `NAME.py` (not starting with `_`) in a directory of the path is one strategy. A file
that fails to import or declares bad metadata is kept as unavailable with its error, so no
service ever stops because of one; requests naming it are refused.
"""

import hashlib
import importlib.util
import logging
import re
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from domain.strategies.definitions import ParsedRule, param_spec
from domain.strategies.entry import StrategyEntry
from domain.strategies.expressions import ExpressionError, Scope, parse_rule
from domain.strategies.params import ParamSpec

log = logging.getLogger(__name__)

PLUGIN_NAME = re.compile(r"[a-z][a-z0-9_]{0,49}")
TargetsFunction = Callable[[Any, dict[str, Any]], Any]
# `indicators(candles, params)`: {name: series of the candles' length}, drawn on the chart.
IndicatorsFunction = Callable[[Any, dict[str, Any]], Any]


@dataclass(frozen=True)
class Plugin:
    """One plugin file; `error` is set (and `targets` None) when it cannot be used."""

    name: str
    path: Path
    sha256: str
    description: str = ""
    params: tuple[ParamSpec, ...] = ()
    rules: tuple[ParsedRule, ...] = ()
    targets: TargetsFunction | None = field(default=None, compare=False, repr=False)
    warmup_bars: int | Callable[[dict[str, Any]], int] | None = field(default=None, compare=False)
    error: str | None = None
    indicators: IndicatorsFunction | None = field(default=None, compare=False, repr=False)

    def entry(self) -> StrategyEntry:
        """This plugin as a registry entry of kind `plugin`."""
        return StrategyEntry(
            "plugin",
            self.name,
            self.description,
            self.params,
            self.rules,
            error=self.error,
            plugin=self,
        )

    def __reduce__(self) -> tuple[Callable[[str, str, str], "Plugin"], tuple[str, str, str]]:
        """Pickled as its name, file and digest, never its code: an engine's pool process
        runs its own import of the same file (`loaded_plugin`)."""
        return (loaded_plugin, (self.name, str(self.path), self.sha256))


# Every plugin this process loaded, by its file's sha256.
_loaded: dict[str, Plugin] = {}


def loaded_plugin(name: str, path: str, sha256: str) -> Plugin:
    """The plugin `name` this process loaded from the file with `sha256`; else unavailable,
    saying why (the file was edited after the request naming it was parsed)."""
    plugin = _loaded.get(sha256)
    if plugin is not None and plugin.name == name:
        return plugin
    return Plugin(name, Path(path), sha256, error="its file changed after the request was parsed")


def load_plugins(strategy_path: str) -> dict[str, Plugin]:
    """Every plugin of the colon-separated directories, by name; the first of a name wins."""
    plugins: dict[str, Plugin] = {}
    for directory in (Path(d) for d in strategy_path.split(":") if d.strip()):
        if not directory.is_dir():
            log.warning("strategy path %s is not a directory", directory)
            continue
        for path in sorted(directory.glob("*.py")):
            if path.name.startswith("_"):
                continue
            plugin = load_plugin(path)
            if plugin.name in plugins:
                log.warning(
                    "plugin %s in %s is shadowed by %s",
                    plugin.name,
                    path,
                    plugins[plugin.name].path,
                )
                continue
            if plugin.error:
                log.warning("plugin %s is unavailable: %s", path, plugin.error)
            plugins[plugin.name] = plugin
    return plugins


def load_plugin(path: Path) -> Plugin:
    """The plugin in `path`, or an unavailable one saying why."""
    source = path.read_bytes()
    digest = hashlib.sha256(source).hexdigest()
    stem = path.stem
    try:
        module = _import(path, digest)
    except BaseException as exc:
        return Plugin(stem, path, digest, error=f"import failed: {describe_error(exc, path)}")
    name = getattr(module, "NAME", stem)
    if not isinstance(name, str) or not PLUGIN_NAME.fullmatch(name):
        return Plugin(stem, path, digest, error="NAME must match [a-z][a-z0-9_]{0,49}")
    try:
        plugin = _checked(module, name, path, digest)
    except ExpressionError as exc:
        return Plugin(name, path, digest, error=f"{exc.field}: {exc.message}")
    _loaded[digest] = plugin
    return plugin


def _import(path: Path, digest: str) -> ModuleType:
    module_name = f"backtester_plugin_{path.stem}_{digest[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # so pickling and dataclasses inside it work
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _checked(module: ModuleType, name: str, path: Path, digest: str) -> Plugin:
    description = getattr(module, "DESCRIPTION", "")
    if not isinstance(description, str):
        raise ExpressionError("DESCRIPTION", "must be a string")
    raw_params = getattr(module, "PARAMS", {})
    if not isinstance(raw_params, Mapping):
        raise ExpressionError("PARAMS", "must be a dict of name -> parameter")
    params = tuple(param_spec(str(n), spec, prefix="PARAMS") for n, spec in raw_params.items())
    types: dict[str, Literal["int", "float"]] = {
        p.name: "int" if p.type is int else "float" for p in params
    }
    raw_rules = getattr(module, "RULES", [])
    if not isinstance(raw_rules, list | tuple):
        raise ExpressionError("RULES", "must be a list of expressions")
    scope = Scope(types, allow_series=False)
    rules = tuple(
        ParsedRule(text, parse_rule(text, f"RULES.{i}", scope)) for i, text in enumerate(raw_rules)
    )
    targets = getattr(module, "targets", None)
    if not callable(targets):
        raise ExpressionError("targets", "a function targets(candles, params) is required")
    warmup = getattr(module, "WARMUP_BARS", None)
    if (
        warmup is not None
        and not callable(warmup)
        and (isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0)
    ):
        raise ExpressionError("WARMUP_BARS", "must be an integer >= 0 or a function of params")
    indicators = getattr(module, "indicators", None)
    if indicators is not None and not callable(indicators):
        raise ExpressionError("indicators", "must be a function indicators(candles, params)")
    plugin = Plugin(
        name, path, digest, description, params, rules, targets, warmup, indicators=indicators
    )
    defaults = {p.name: p.default for p in params}
    broken = next((r for r in rules if not r.holds(defaults)), None)
    if broken is not None:
        raise ExpressionError("PARAMS", f"the defaults break the rule {broken.text!r}")
    return plugin


def describe_error(exc: BaseException, path: Path) -> str:
    """`ZeroDivisionError: division by zero (vol_breakout.py:14)`: the innermost line of
    the plugin's own file in the traceback, so the user knows where to look."""
    location = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename).resolve() == path.resolve():
            location = f" ({path.name}:{frame.lineno})"
            break
    if not location and isinstance(exc, SyntaxError) and exc.lineno:
        location = f" ({path.name}:{exc.lineno})"
    message = str(exc).splitlines()[0] if str(exc) else ""
    return (
        f"{type(exc).__name__}: {message}{location}"
        if message
        else f"{type(exc).__name__}{location}"
    )
