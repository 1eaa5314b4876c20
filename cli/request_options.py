"""The options of a backtest request, named like its fields, shared by `backtest` and
`optimize`; only what the user gave is sent, so every default is the API's."""

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from cli import option_values

F = TypeVar("F", bound=Callable[..., Any])

UUID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)

SERIES_OPTIONS = [
    click.option("--category", required=True, help="linear, inverse or spot"),
    click.option("--symbol", required=True, help="e.g. BTCUSDT"),
    click.option("--interval", required=True, help="1 3 5 15 30 60 120 240 360 720 D W M"),
    click.option("--start", required=True, help="ISO-8601 (UTC without an offset) or epoch ms"),
    click.option("--end", required=True, help="ISO-8601 (UTC without an offset) or epoch ms"),
]

EXECUTION_OPTIONS = [
    click.option("--strategy", help="a built-in, plugin or saved strategy's name, or a saved id"),
    click.option(
        "--param",
        "params",
        multiple=True,
        metavar="NAME=VALUE",
        help="a strategy parameter (repeatable)",
    ),
    click.option(
        "--definition",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="an expression strategy's definition (a JSON file) instead of --strategy",
    ),
    click.option("--initial-capital", type=float),
    click.option("--fee-rate", type=float),
    click.option("--slippage-bps", type=float),
    click.option("--direction", type=click.Choice(["long_only", "short_only", "long_short"])),
    click.option("--fill", type=click.Choice(["next_open", "close"])),
    click.option("--position-size", type=float),
    click.option("--stop-loss", help="a fraction of the price, or atr:K"),
    click.option("--take-profit", help="a fraction of the price, or atr:K"),
    click.option("--trailing-stop", help="a fraction of the price, or atr:K"),
    click.option("--atr-period", type=int),
    click.option("--warmup-bars", help="bars before --start for the indicators: N or auto"),
]

STOP_FIELDS = ("stop_loss", "take_profit", "trailing_stop")
PLAIN_FIELDS = (
    "initial_capital",
    "fee_rate",
    "slippage_bps",
    "direction",
    "fill",
    "position_size",
    "atr_period",
)


def with_options(options: list[Callable[[F], F]]) -> Callable[[F], F]:
    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def series_fields(given: dict[str, Any]) -> dict[str, Any]:
    return {
        "category": given.pop("category"),
        "symbol": given.pop("symbol"),
        "interval": given.pop("interval"),
        "start": option_values.time_value(given.pop("start")),
        "end": option_values.time_value(given.pop("end")),
    }


def backtest_request(given: dict[str, Any]) -> dict[str, Any]:
    """The backtest request of the options in `given` (consumed from it)."""
    request = series_fields(given)
    request["strategy"] = strategy_ref(given.pop("strategy"), given.pop("definition"))
    strategy_params = option_values.params(given.pop("params"))
    if strategy_params:
        request["strategy"]["params"] = strategy_params
    for field in PLAIN_FIELDS:
        value = given.pop(field)
        if value is not None:
            request[field] = value
    for field in STOP_FIELDS:
        value = given.pop(field)
        if value is not None:
            request[field] = option_values.stop(value, "--" + field.replace("_", "-"))
    warmup = given.pop("warmup_bars")
    if warmup is not None:
        request["warmup_bars"] = option_values.json_value(warmup)
    return request


def strategy_ref(strategy: str | None, definition: Path | None) -> dict[str, Any]:
    if (strategy is None) == (definition is None):
        raise click.UsageError("give --strategy NAME or --definition FILE (one of them)")
    if definition is not None:
        return {"definition": option_values.definition_file(definition)}
    assert strategy is not None
    return {"id": strategy} if UUID_PATTERN.match(strategy) else {"name": strategy}
