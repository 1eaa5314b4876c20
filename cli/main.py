"""The `backtester` command: its subcommands, and how the API's answers become exit statuses.

Exit status: 0 when the request was accepted and (with --wait, or for a job shown) the job did
not fail; 1 a failed or cancelled job; 2 bad usage; 3 a request the API refused (its message,
and each field it names); 4 no answer from the API."""

import os
from typing import Any

import click

from cli import export_command, job_commands, research_commands, strategy_commands
from cli.api_client import DEFAULT_API, ApiClient, Refused, Unreachable
from cli.output import REFUSED, UNREACHABLE


class ApiCommands(click.Group):
    """Turns the API's refusals and silence into a message on stderr and an exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Refused as exc:
            for line in exc.lines():
                click.echo(f"backtester: {line}", err=True)
            raise click.exceptions.Exit(REFUSED) from None
        except Unreachable as exc:
            click.echo(f"backtester: {exc}", err=True)
            raise click.exceptions.Exit(UNREACHABLE) from None


@click.group(cls=ApiCommands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--api",
    envvar="BACKTESTER_API",
    default=DEFAULT_API,
    show_default=True,
    help="the REST API's base URL (env BACKTESTER_API); the token comes from API_TOKEN",
)
@click.pass_context
def backtester(ctx: click.Context, api: str) -> None:
    """Backfill candles, run backtests and optimizations, and read their results, through the
    platform's REST API."""
    ctx.obj = ApiClient(api, os.environ.get("API_TOKEN"))


for command in (
    job_commands.backfill,
    job_commands.backtest,
    job_commands.optimize,
    job_commands.show,
    job_commands.list_jobs,
    job_commands.cancel,
    job_commands.rerun,
    research_commands.compare,
    research_commands.returns,
    strategy_commands.strategies,
    export_command.export,
):
    backtester.add_command(command)


def main() -> None:
    backtester(prog_name="backtester")
