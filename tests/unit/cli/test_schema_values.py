"""Option text to request values by the schema alone: each shape of docs/cli.md's option syntax,
and a request with the fields the contract adds (orders, sizing, detail, portfolios, Bayesian
search) written here as pydantic models the way the API writes its own, to show that such a
field gets a working option from its schema, with no code of the command line's."""

from typing import Annotated, Any, Literal

import click
import pytest
from pydantic import BaseModel, ConfigDict, Field

from cli.request_options import field_options, request_body, with_options
from cli.request_schema import fields_of
from cli.schema_values import Unparsable, describe, parse
from devtools.cli_request_schema import _inlined


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LimitOrder(Strict):
    type: Literal["limit"]
    offset: float = Field(0.0, ge=0, le=0.2)
    valid_bars: int = Field(1, ge=1, le=1000)


class FractionSizing(Strict):
    method: Literal["fraction"]


class RiskSizing(Strict):
    method: Literal["risk"]
    risk: float = Field(gt=0, le=0.2)


class Rebalance(Strict):
    every: Literal["D", "W", "M"] | int


class Portfolio(Strict):
    max_positions: int | None = None
    rank: str | None = None
    rebalance: Rebalance | None = None


class SpaceRange(Strict):
    low: float
    high: float
    step: float | None = None
    log: bool = False


class Search(Strict):
    trials: int = Field(ge=10)
    batch: int = 16
    sampler: Literal["tpe", "random", "cmaes"] = "tpe"
    seed: int = 0


class MonteCarlo(Strict):
    runs: int
    seed: int


class AtrStop(Strict):
    atr: float


class FutureRequest(Strict):
    symbols: list[str] | None = None
    entry_order: Literal["market"] | LimitOrder = "market"
    sizing: Annotated[FractionSizing | RiskSizing, Field(discriminator="method")] = FractionSizing(
        method="fraction"
    )
    fill_detail: Literal["1", "3", "5", "15", "30", "60"] | None = None
    max_bars_in_trade: int | None = None
    stop_loss: float | AtrStop | None = None
    warmup_bars: int | Literal["auto"] = "auto"
    monte_carlo: MonteCarlo | None = None
    funding: bool | None = None
    portfolio: Portfolio | None = None
    param_space: dict[str, SpaceRange | list[Any]] | None = None
    search: Search | None = None


def _schema() -> dict[str, Any]:
    raw = FutureRequest.model_json_schema()
    inlined: dict[str, Any] = _inlined(raw, raw.get("$defs", {}), ())
    inlined.pop("$defs", None)
    return inlined


def _field(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = _schema()["properties"][name]
    return schema


def test_each_shape_of_the_syntax() -> None:
    assert parse(_field("stop_loss"), "0.05") == 0.05
    assert parse(_field("stop_loss"), "atr:2") == {"atr": 2}
    assert parse(_field("stop_loss"), "null") is None
    assert parse(_field("warmup_bars"), "auto") == "auto"
    assert parse(_field("warmup_bars"), "500") == 500
    assert parse(_field("entry_order"), "market") == "market"
    assert parse(_field("entry_order"), "limit") == {"type": "limit"}
    assert parse(_field("entry_order"), "limit:0.001:3") == {
        "type": "limit",
        "offset": 0.001,
        "valid_bars": 3,
    }
    assert parse(_field("sizing"), "risk:0.01") == {"method": "risk", "risk": 0.01}
    assert parse(_field("sizing"), "fraction") == {"method": "fraction"}
    assert parse(_field("monte_carlo"), "2000:7") == {"runs": 2000, "seed": 7}
    assert parse(_field("symbols"), "BTCUSDT, ETHUSDT") == ["BTCUSDT", "ETHUSDT"]
    assert parse(_field("fill_detail"), "1") == "1"
    rebalance = _field("portfolio")["anyOf"][0]["properties"]["rebalance"]
    assert parse(rebalance, "W") == {"every": "W"}
    assert parse(rebalance, "24") == {"every": 24}
    space = _field("param_space")["anyOf"][0]["additionalProperties"]
    assert parse(space, "2:50") == {"low": 2, "high": 50}
    assert parse(space, "0.5:4:0.1") == {"low": 0.5, "high": 4, "step": 0.1}
    assert parse(space, "0.01:0.2:log") == {"low": 0.01, "high": 0.2, "log": True}
    assert parse(space, "50,100,200") == [50, 100, 200]
    assert parse(_field("monte_carlo"), '{"runs": 100, "seed": 1}') == {"runs": 100, "seed": 1}


def test_text_that_fits_no_shape_says_what_would() -> None:
    with pytest.raises(Unparsable, match=r"expected NUMBER\|atr:ATR"):
        parse(_field("stop_loss"), "atr2")
    with pytest.raises(Unparsable, match="risk: expected a number"):
        parse(_field("sizing"), "risk:lots")
    with pytest.raises(Unparsable, match="missing seed"):
        parse(_field("monte_carlo"), "2000")
    with pytest.raises(Unparsable, match="too many values"):
        parse(_field("monte_carlo"), "1:2:3")
    assert describe(_field("entry_order")) == "market|limit[:OFFSET][:VALID_BARS]"
    assert describe(_field("sizing")) == "fraction|risk:RISK"
    assert describe(_field("monte_carlo")) == "RUNS:SEED"
    space = _field("param_space")["anyOf"][0]["additionalProperties"]
    assert describe(space) == "LOW:HIGH[:STEP][:log]|VALUE,..."


def test_fields_a_later_request_adds_get_options_that_the_model_accepts() -> None:
    fields = fields_of(_schema())
    received: dict[str, Any] = {}

    @click.command()
    @with_options(field_options(fields))
    def submit(**given: Any) -> None:
        received.update(request_body(fields, given, None))

    args = [
        *("--symbols", "BTCUSDT,ETHUSDT", "--entry-order", "limit:0.001:3"),
        *("--sizing", "risk:0.01", "--fill-detail", "1", "--max-bars-in-trade", "48"),
        *("--stop-loss", "atr:2", "--monte-carlo", "2000:7", "--no-funding"),
        *("--max-positions", "2", "--rank", "roc(close, 24)", "--rebalance", "W"),
        *("--space", "fast=2:50", "--space", "trailing_stop=0.01:0.2:log"),
        *("--space", "slow=50,100,200", "--trials", "200", "--batch", "8", "--seed", "1"),
    ]
    submit.main(args, standalone_mode=False)
    assert received == {
        "symbols": ["BTCUSDT", "ETHUSDT"],
        "entry_order": {"type": "limit", "offset": 0.001, "valid_bars": 3},
        "sizing": {"method": "risk", "risk": 0.01},
        "fill_detail": "1",
        "max_bars_in_trade": 48,
        "stop_loss": {"atr": 2},
        "monte_carlo": {"runs": 2000, "seed": 7},
        "funding": False,
        "portfolio": {"max_positions": 2, "rank": "roc(close, 24)", "rebalance": {"every": "W"}},
        "param_space": {
            "fast": {"low": 2, "high": 50},
            "trailing_stop": {"low": 0.01, "high": 0.2, "log": True},
            "slow": [50, 100, 200],
        },
        "search": {"trials": 200, "batch": 8, "seed": 1},
    }
    FutureRequest.model_validate(received)
