"""The command line's options against the API's request schemas: the committed description
(cli/request_schema.json) is the live one, every request field has its option named like it,
and the options build requests the API's own schemas accept."""

from typing import Any

import click
import pytest

from cli import job_commands
from cli.request_options import request_body
from cli.request_schema import ALIASES, FLATTENED, NEGATIONS, OPTION_NAMES, OWN_OPTIONS
from devtools import cli_request_schema
from services.api.app import ENDPOINTS
from services.api.openapi import openapi_document

DOCUMENT = openapi_document(ENDPOINTS, title="backtester", version="0")
COMMANDS = {
    "backfill": job_commands.backfill,
    "backtest": job_commands.backtest,
    "optimization": job_commands.optimize,
}
SERIES = [
    *("--category", "linear", "--symbol", "BTCUSDT", "--interval", "60"),
    *("--start", "2024-01-01", "--end", "1719705600000"),
]


def _body_schema(kind: str) -> dict[str, Any]:
    path = cli_request_schema.JOB_ROUTES[kind]
    content = DOCUMENT["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return _resolved(content["schema"])


def _resolved(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return _resolved(DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]])
    return schema


def _object_of(schema: dict[str, Any]) -> dict[str, Any] | None:
    for member in schema.get("anyOf", [schema]):
        member = _resolved(member)
        if member.get("properties"):
            return member
    return None


def _expected_options(schema: dict[str, Any], required: bool) -> dict[str, bool]:
    """{option name: required} for each field of the schema, by the rule docs/cli.md states:
    named like the field, a flattened object's members as options of their own."""
    options: dict[str, bool] = {}
    needed = set(schema.get("required", []))
    for name, prop in schema["properties"].items():
        if name in OWN_OPTIONS:
            continue
        inner = _object_of(prop)
        if name in FLATTENED and inner is not None:
            nullable = any(m.get("type") == "null" for m in prop.get("anyOf", []))
            options |= _expected_options(inner, required and name in needed and not nullable)
        else:
            options["--" + OPTION_NAMES.get(name, name).replace("_", "-")] = (
                required and name in needed
            )
    return options


def _options(command: click.Command) -> dict[str, click.Option]:
    return {
        name: param
        for param in command.params
        if isinstance(param, click.Option)
        for name in param.opts
    }


def test_the_committed_schema_file_is_the_apis() -> None:
    committed = cli_request_schema.TARGET.read_text()
    assert committed == cli_request_schema.rendered(), (
        "cli/request_schema.json is stale: run `make cli-schema` and commit it"
    )


@pytest.mark.parametrize("kind", list(COMMANDS))
def test_every_request_field_has_an_option_named_like_it(kind: str) -> None:
    expected = _expected_options(_body_schema(kind), True)
    assert len(expected) >= 5
    options = _options(COMMANDS[kind])
    assert set(expected) <= set(options), set(expected) - set(options)
    for name, required in expected.items():
        # `kind` is told from the options given when left out.
        assert options[name].required == (required and name != "--kind"), name
    if kind != "backfill":
        assert {"--strategy", "--param", "--definition"} <= set(options)
    # No two fields share an option, and the aliases are the documented ones.
    declared = [opt for param in COMMANDS[kind].params for opt in param.opts]
    assert len(declared) == len(set(declared))
    if kind != "backfill":
        assert options["--mmr"] is options["--maintenance-margin-rate"]
    assert set(ALIASES) <= {"maintenance_margin_rate"} and set(NEGATIONS) <= {"anchored"}


@pytest.mark.parametrize("kind", ["backtest", "optimization"])
def test_an_enum_field_lists_its_values_and_a_boolean_is_a_flag_pair(kind: str) -> None:
    schema = _body_schema(kind)
    if kind == "optimization":
        schema = {**schema, "properties": {**schema["properties"], **_backtest_fields()}}
    options = _options(COMMANDS[kind])
    checked = 0
    for name, prop in schema["properties"].items():
        option = options.get("--" + OPTION_NAMES.get(name, name).replace("_", "-"))
        if option is None:
            continue
        values = [v for m in prop.get("anyOf", [prop]) for v in _resolved(m).get("enum", [])]
        if values:
            assert option.metavar is not None and option.metavar.split("|") == values, name
            checked += 1
        kinds = {m.get("type") for m in prop.get("anyOf", [prop])}
        if "boolean" in kinds:
            assert option.is_flag and option.secondary_opts, name
            checked += 1
    assert checked >= 4


def _backtest_fields() -> dict[str, Any]:
    props: dict[str, Any] = _body_schema("backtest")["properties"]
    return props


def _body(kind: str, *args: str) -> dict[str, Any]:
    command = COMMANDS[kind]
    context = command.make_context(command.name or kind, list(args))
    given = dict(context.params)
    for key in ("wait", "as_json", "idempotency_key", "retry_for"):
        given.pop(key)
    fields = {
        "backfill": job_commands.BACKFILL_FIELDS,
        "backtest": job_commands.BACKTEST_FIELDS,
        "optimization": job_commands.OPTIMIZATION_FIELDS,
    }[kind]
    body = request_body(
        fields, given, None if kind == "backfill" else ("backtest",) * (kind == "optimization")
    )
    assert given == {}
    return body


def _valid(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """The body as the API's own model for it reads it (raises if the model refuses it)."""
    path = cli_request_schema.JOB_ROUTES[kind]
    [model] = [ep.body for ep in ENDPOINTS if ep.path == path and ep.method == "POST"]
    assert model is not None
    read: dict[str, Any] = model.model_validate(body).model_dump(mode="json")
    return read


def test_a_backtest_with_every_kind_of_option() -> None:
    body = _body(
        "backtest",
        *SERIES,
        *("--strategy", "sma_cross", "--param", "fast=10"),
        *("--leverage", "10", "--no-funding", "--mmr", "0.005", "--monte-carlo", "2000:7"),
        *("--stop-loss", "atr:2", "--take-profit", "0.1", "--warmup-bars", "auto"),
        *("--direction", "long_short", "--fee-rate", "0.001"),
    )
    assert body == {
        "category": "linear",
        "symbol": "BTCUSDT",
        "interval": "60",
        "start": "2024-01-01",
        "end": 1719705600000,
        "strategy": {"name": "sma_cross", "params": {"fast": 10}},
        "leverage": 10,
        "funding": False,
        "maintenance_margin_rate": 0.005,
        "monte_carlo": {"runs": 2000, "seed": 7},
        "stop_loss": {"atr": 2},
        "take_profit": 0.1,
        "warmup_bars": "auto",
        "direction": "long_short",
        "fee_rate": 0.001,
    }
    # The API's model takes it, times as ISO-8601 or epoch milliseconds.
    read = _valid("backtest", body)
    assert read["end"] == "2024-06-30T00:00:00Z" and read["leverage"] == 10
    assert read["stop_loss"] == {"atr": 2} and read["monte_carlo"] == {"runs": 2000, "seed": 7}
    # Only what was given is sent.
    assert _body("backtest", *SERIES, "--strategy", "x") == {
        **{k: body[k] for k in ("category", "symbol", "interval", "start", "end")},
        "strategy": {"name": "x"},
    }


def test_an_optimization_nests_the_backtest_and_its_sections() -> None:
    body = _body(
        "optimization",
        *SERIES,
        *("--strategy", "sma_cross", "--leverage", "3", "--stop-loss", "0.02"),
        *(
            "--grid",
            "fast=5,10,20",
            "--grid",
            "slow=30:100:10",
            "--grid",
            "trailing_stop=0.02,atr:2",
        ),
        *("--train-bars", "300", "--test-bars", "100", "--rolling", "--robustness-blocks", "8"),
        *("--objective", "calmar"),
    )
    assert body["backtest"]["leverage"] == 3 and body["backtest"]["stop_loss"] == 0.02
    assert body["backtest"]["strategy"] == {"name": "sma_cross"}
    assert body["param_grid"] == {
        "fast": [5, 10, 20],
        "slow": {"start": 30, "stop": 100, "step": 10},
        "trailing_stop": [0.02, {"atr": 2}],
    }
    assert body["walk_forward"] == {"train_bars": 300, "test_bars": 100, "anchored": False}
    assert body["robustness_blocks"] == 8 and body["objective"] == "calmar"
    assert "kind" not in body and job_commands.default_kind(body) == "walk_forward"
    read = _valid("optimization", {**body, "kind": "walk_forward"})
    assert read["backtest"]["leverage"] == 3 and read["walk_forward"]["train_bars"] == 300
    assert job_commands.default_kind({"param_grid": {}}) == "grid"


def test_a_backfill_includes_a_list_or_none() -> None:
    assert _body("backfill", *SERIES, "--include", "none")["include"] == []
    both = _body("backfill", *SERIES, "--include", "mark_price", "--include", "funding")
    assert both["include"] == ["mark_price", "funding"]
    assert _body("backfill", *SERIES, "--include", "mark_price,funding") == both
    assert "include" not in _body("backfill", *SERIES)


def test_a_value_the_schema_does_not_fit_is_bad_usage_naming_the_option() -> None:
    with pytest.raises(click.BadParameter) as refused:
        _body("backtest", *SERIES, "--strategy", "x", "--monte-carlo", "2000:x")
    assert refused.value.format_message() == (
        "Invalid value for '--monte-carlo': '2000:x': expected RUNS:SEED"
        " (seed: expected an integer)"
    )
    with pytest.raises(click.BadParameter) as refused:
        _body("optimization", *SERIES, "--strategy", "x", "--grid", "fast")
    assert "'--grid': 'fast' is not NAME=VALUE" in refused.value.format_message()
    with pytest.raises(click.MissingParameter):
        _body("backtest", "--strategy", "x")
