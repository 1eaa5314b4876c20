"""`backtester strategies`: list what a request may name, save a preset or an expression
strategy, show or delete a saved one."""

from pathlib import Path
from typing import Any

import click

from cli import option_values, tables
from cli.api_client import ApiClient
from cli.output import print_json, print_tables

pass_api = click.make_pass_decorator(ApiClient)
AS_JSON = click.option("--json", "as_json", is_flag=True, help="print the answer as JSON")


@click.group(invoke_without_command=True)
@AS_JSON
@click.pass_context
def strategies(ctx: click.Context, as_json: bool) -> None:
    """The strategies a request may name (built-ins, plugins, saved); `list` by default."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_strategies, as_json=as_json)


@strategies.command("list")
@click.option("--limit", type=int)
@click.option("--offset", type=int)
@AS_JSON
@pass_api
def list_strategies(
    api: ApiClient, as_json: bool, limit: int | None = None, offset: int | None = None
) -> None:
    """Built-ins and plugins with their parameters, then the saved strategies."""
    page = api.get("/strategies", limit=limit, offset=offset)
    if as_json:
        print_json(page)
    else:
        print_tables(tables.strategies_table(page["items"], page["total"]))


@strategies.command("save")
@click.argument("name")
@click.option("--strategy", help="a preset: the strategy it runs, with --param values")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="(repeatable)")
@click.option(
    "--definition",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="an expression strategy: its definition, a JSON file",
)
@click.option("--description")
@AS_JSON
@pass_api
def save(
    api: ApiClient,
    name: str,
    strategy: str | None,
    params: tuple[str, ...],
    definition: Path | None,
    description: str | None,
    as_json: bool,
) -> None:
    """Save a preset (--strategy with --param) or an expression strategy (--definition)."""
    if (strategy is None) == (definition is None):
        raise click.UsageError("give --strategy NAME (a preset) or --definition FILE")
    body: dict[str, Any] = {"name": name}
    if definition is not None:
        if params:
            raise click.UsageError("an expression strategy declares its params in the definition")
        body["definition"] = option_values.definition_file(definition)
    else:
        body["strategy"] = strategy
        body["params"] = option_values.params(params)
    if description is not None:
        body["description"] = description
    saved = api.post("/strategies", body)
    if as_json:
        print_json(saved)
    else:
        click.echo(f"saved {saved['name']} as {saved['id']}")


@strategies.command("show")
@click.argument("strategy_id", metavar="ID")
@pass_api
def show_strategy(api: ApiClient, strategy_id: str) -> None:
    """A saved strategy, as JSON."""
    print_json(api.get(f"/strategies/{strategy_id}"))


@strategies.command("delete")
@click.argument("strategy_id", metavar="ID")
@pass_api
def delete_strategy(api: ApiClient, strategy_id: str) -> None:
    """Delete a saved strategy."""
    api.delete(f"/strategies/{strategy_id}")
    click.echo(f"deleted strategy {strategy_id}")
