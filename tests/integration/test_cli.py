"""The installed `backtester` command, run as a user runs it (a process of its own), against a
served API, an engine and the ingest on the real PostgreSQL and RabbitMQ: each subcommand's
output and exit status, failed jobs, refused requests, and `--json` that parses back."""

import asyncio
import csv
import json
import os
import signal
import sys
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg
import httpx
import pytest
import yaml

from cli.number_formats import formatted
from cli.tables import PERCENTILES
from devtools.launcher import free_port, wait_until_serving
from services.bybit_sim.server import running_sim
from services.bybit_sim.settings import SimSettings
from shared.settings import Settings
from tests.support.market import T0, insert_candles, random_walk
from tests.support.processes import service_process
from tests.support.services import running_engine, running_ingest
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BACKTESTER = Path(sys.executable).parent / "backtester"
PLUGINS = str(ROOT / "tests" / "plugins")
TOKEN = "cli-s3cret"
SERIES = (
    *("--category", "linear", "--symbol", "BTCUSDT", "--interval", "60"),
    *("--start", "2024-01-02", "--end", "2024-02-20T00:00:00Z"),
)
SMA = ("--strategy", "sma_cross", "--param", "fast=5", "--param", "slow=20")
SMA_DEFINITION = {
    "params": {
        "fast": {"type": "int", "default": 5, "minimum": 1, "maximum": 500},
        "slow": {"type": "int", "default": 20, "minimum": 2, "maximum": 2000},
    },
    "rules": ["fast < slow"],
    "long_entry": "crosses_above(sma(close, fast), sma(close, slow))",
    "long_exit": "crosses_below(sma(close, fast), sma(close, slow))",
}


class Ran(NamedTuple):
    status: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Api(NamedTuple):
    url: str
    settings: Settings


async def started(api: Api | str, *args: str, token: str | None = TOKEN) -> Process:
    url = api if isinstance(api, str) else api.url
    env = {**os.environ, "BACKTESTER_API": url}
    env.pop("API_TOKEN", None)
    if token is not None:
        env["API_TOKEN"] = token
    return await asyncio.create_subprocess_exec(
        str(BACKTESTER),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finished(proc: Process) -> Ran:
    out, err = await asyncio.wait_for(proc.communicate(), timeout=180)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


async def backtester(api: Api | str, *args: str, token: str | None = TOKEN) -> Ran:
    return await finished(await started(api, *args, token=token))


def api_get(api: Api, path: str, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    resp = httpx.get(api.url + path, params=params, headers=headers, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture
def cli_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"strategy_path": PLUGINS, "api_token": TOKEN, "log_level": "WARNING"}
    )


@pytest.fixture
async def api(cli_settings: Settings) -> AsyncIterator[Api]:
    """`python -m services.api` on a free port, with the token and the test plugins."""
    port = free_port()
    served = cli_settings.model_copy(update={"api_port": port})
    async with service_process("services.api", served) as proc:
        await wait_until_serving(f"http://127.0.0.1:{port}/api/v1/readyz", proc, within=60)
        yield Api(f"http://127.0.0.1:{port}/api/v1", cli_settings)


@pytest.fixture
async def candles(pool: asyncpg.Pool) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 1500, "60"))


@pytest.mark.usefixtures("candles")
async def test_a_backtest_waited_for_shows_listed_and_exported(api: Api, tmp_path: Path) -> None:
    async with running_engine(api.settings):
        ran = await backtester(
            api, "backtest", *SERIES, *SMA, "--stop-loss", "atr:2", "--wait", "--json"
        )
    assert ran.status == 0, ran.err
    backtest = ran.json()
    assert backtest["status"] == "succeeded"
    request = backtest["request"]
    assert request["strategy"]["params"] == {"fast": 5, "slow": 20}
    assert request["stop_loss"] == {"atr": 2}
    assert request["start"] == "2024-01-02T00:00:00Z"
    # What was not given took the API's defaults.
    assert request["fee_rate"] == 0.00055 and request["direction"] == "long_only"
    assert backtest == api_get(api, f"/backtests/{backtest['id']}")

    shown = await backtester(api, "show", backtest["id"])
    assert shown.status == 0, shown.err
    trades = api_get(api, f"/backtests/{backtest['id']}/trades", limit=1000)
    assert trades["total"] > 0
    assert (
        "metrics" in shown.out
        and "sharpe" in shown.out
        and "sma_cross(fast=5, slow=20)" in shown.out
    )
    assert f"{backtest['metrics']['num_trades']:.6g}" in shown.out
    assert json.dumps(backtest["exit_counts"], separators=(",", ":")) in shown.out
    assert sum(backtest["exit_counts"].values()) == trades["total"]
    assert f"trades ({min(20, trades['total'])} of {trades['total']})" in shown.out or (
        trades["total"] <= 20 and f"trades ({trades['total']})" in shown.out
    )

    listed = await backtester(api, "list", "backtests", "--json")
    assert listed.status == 0 and [b["id"] for b in listed.json()["items"]] == [backtest["id"]]
    table = await backtester(api, "list")
    assert table.status == 0 and backtest["id"] in table.out and "succeeded" in table.out

    files = {name: tmp_path / f"{name}.out" for name in ("json", "trades", "equity")}
    exported = await backtester(
        api,
        "export",
        backtest["id"],
        *(arg for n, p in files.items() for arg in (f"--{n}", str(p))),
    )
    assert exported.status == 0, exported.err
    assert json.loads(files["json"].read_text()) == backtest
    rows = list(csv.DictReader(files["trades"].open()))
    assert len(rows) == trades["total"]
    assert [float(r["pnl"]) for r in rows] == [t["pnl"] for t in trades["items"]]
    assert [r["exit_reason"] for r in rows] == [t["exit_reason"] for t in trades["items"]]
    curve = api_get(api, f"/backtests/{backtest['id']}/equity")["items"]
    points = list(csv.DictReader(files["equity"].open()))
    assert [(p["time"], float(p["equity"])) for p in points] == [
        (p["time"], p["equity"]) for p in curve
    ]

    report = await backtester(api, "export", backtest["id"], "--report", str(tmp_path / "r.html"))
    if report.status == 0:  # once the API serves the report
        assert (tmp_path / "r.html").read_text().lstrip().lower().startswith("<!doctype html")
    else:
        assert report.status == 3 and "serves no HTML report" in report.err


@pytest.mark.usefixtures("candles")
async def test_refused_requests_exit_3_with_the_apis_message_and_field(api: Api) -> None:
    ran = await backtester(api, "backtest", *SERIES, "--strategy", "sma_cross", "--param", "fast=0")
    assert ran.status == 3 and ran.out == ""
    refusal = "refused: HTTP 422 invalid_request: strategy.params.fast: must be in [1, 10000]"
    assert ran.err == f"backtester: {refusal}\n"
    both = await backtester(
        api, "backtest", *SERIES, *SMA, "--fee-rate", "-1", "--position-size", "2"
    )
    assert both.status == 3
    first, second = both.err.splitlines()
    assert first.startswith("backtester: refused: HTTP 422 invalid_request: fee_rate: ")
    assert second.startswith("backtester:   position_size: ")

    unknown = await backtester(api, "backtest", *SERIES, "--strategy", "nope", "--wait")
    assert unknown.status == 3 and "strategy.name" in unknown.err and "sma_cross" in unknown.err

    no_token = await backtester(api, "list", token=None)
    assert no_token.status == 3 and "HTTP 401" in no_token.err

    missing = await backtester(api, "show", "00000000-0000-0000-0000-000000000000")
    assert missing.status == 3 and "HTTP 404" in missing.err

    bad_usage = await backtester(
        api, "backtest", *SERIES, "--strategy", "sma_cross", "--param", "5"
    )
    assert bad_usage.status == 2 and "NAME=VALUE" in bad_usage.err

    nobody = await backtester(f"http://127.0.0.1:{free_port()}/api/v1", "list")
    assert nobody.status == 4 and "cannot reach the API" in nobody.err
    assert api_get(api, "/backtests")["total"] == 0


@pytest.mark.usefixtures("candles")
async def test_a_failed_job_exits_1_with_its_reason(api: Api) -> None:
    async with running_engine(api.settings):
        tables = await backtester(api, "backtest", *SERIES, "--strategy", "raises", "--wait")
        as_json = await backtester(
            api, "backtest", *SERIES, "--strategy", "raises", "--wait", "--json"
        )
    reason = "strategy error: ZeroDivisionError: division by zero (raises.py:6)"
    assert tables.status == 1 and "failed" in tables.out
    assert tables.err.strip().endswith(f"failed: {reason}")
    assert as_json.status == 1 and as_json.json()["status"] == "failed"
    assert as_json.json()["error"] == reason
    shown = await backtester(api, "show", as_json.json()["id"], "--json")
    assert shown.status == 1 and shown.json() == as_json.json()


@pytest.mark.usefixtures("candles")
async def test_grid_and_walk_forward_optimizations(api: Api, tmp_path: Path) -> None:
    grid_args = ("--grid", "fast=5,10", "--grid", "slow=20:40:10", "--objective", "total_return")
    strategy = ("--strategy", "sma_cross")
    async with running_engine(api.settings):
        grid = await backtester(api, "optimize", *SERIES, *strategy, *grid_args, "--wait", "--json")
        walk = await backtester(
            api,
            "optimize",  # a window option without --kind: a walk-forward
            *SERIES,
            *strategy,
            *("--grid", "fast=5,10", "--train-bars", "300", "--test-bars", "200", "--wait"),
        )
    assert grid.status == 0, grid.err
    job = grid.json()
    assert job["status"] == "succeeded" and job["progress"] == {"done": 6, "total": 6}
    assert job["request"]["param_grid"] == {"fast": [5, 10], "slow": [20, 30, 40]}
    assert job["request"]["objective"] == "total_return"
    assert walk.status == 0, walk.err
    assert "walk_forward" in walk.out and "train total_return" not in walk.out
    assert "train sharpe" in walk.out and "test sharpe" in walk.out

    shown = await backtester(api, "show", job["id"])
    ranked = api_get(api, f"/optimizations/{job['id']}/results", order_by="total_return")["items"]
    assert shown.status == 0 and "top 6 of 6 by total_return" in shown.out
    assert "fast=[5,10]; slow=[20,30,40]" in shown.out
    best_line = next(line for line in shown.out.splitlines() if line.lstrip("│ ").startswith("1 "))
    assert json.dumps(ranked[0]["params"], separators=(",", ":")) in best_line

    results = tmp_path / "results.csv"
    exported = await backtester(api, "export", job["id"], "--results", str(results))
    assert exported.status == 0, exported.err
    rows = list(csv.DictReader(results.open()))
    assert [(int(r["params.fast"]), int(r["params.slow"])) for r in rows] == [
        (r["params"]["fast"], r["params"]["slow"]) for r in ranked
    ]
    wrong = await backtester(api, "export", job["id"], "--trades", str(tmp_path / "t.csv"))
    assert wrong.status == 2 and f"--trades: for a backtest, which {job['id']} is not" in wrong.err
    listed = await backtester(api, "list", "optimizations", "--kind", "walk_forward", "--json")
    assert listed.status == 0 and listed.json()["total"] == 1
    [walk_forward] = listed.json()["items"]
    assert walk_forward["request"]["walk_forward"] == {
        "train_bars": 300,
        "test_bars": 200,
        "anchored": False,
    }
    windows = api_get(api, f"/optimizations/{walk_forward['id']}/results", order_by="window")
    assert (
        windows["total"] >= 3 and f"windows ({windows['total']} of {windows['total']})" in walk.out
    )
    window_lines = [line for line in walk.out.splitlines() if "Z │ {" in line]
    assert [json.loads(line.split("│")[3]) for line in window_lines] == [
        w["params"] for w in windows["items"]
    ]


@pytest.mark.usefixtures("candles")
async def test_strategies_saved_listed_and_run(api: Api, tmp_path: Path) -> None:
    definition = tmp_path / "sma.json"
    definition.write_text(json.dumps(SMA_DEFINITION))
    as_yaml = tmp_path / "sma.yaml"
    as_yaml.write_text(yaml.safe_dump(SMA_DEFINITION))
    preset = await backtester(
        api,
        "strategies",
        "save",
        "fast-cross",
        "--strategy",
        "ema_cross",
        "--param",
        "fast=8",
        "--json",
    )
    assert preset.status == 0, preset.err
    assert preset.json()["params"]["fast"] == 8
    expression = await backtester(
        api, "strategies", "save", "my-sma", "--definition", str(definition)
    )
    assert expression.status == 0 and expression.out.startswith("saved my-sma as ")
    again = await backtester(api, "strategies", "save", "my-sma", "--definition", str(definition))
    assert again.status == 3 and "HTTP 409" in again.err

    listed = await backtester(api, "strategies", "--json")
    assert listed.status == 0
    names = [s["name"] for s in listed.json()["items"]]
    assert {"sma_cross", "raises", "fast-cross", "my-sma"} <= set(names)
    table = await backtester(api, "strategies")
    assert table.status == 0 and "fast-cross" in table.out and "my-sma" in table.out

    async with running_engine(api.settings):
        by_name = await backtester(
            api, "backtest", *SERIES, "--strategy", "my-sma", "--wait", "--json"
        )
        inline = await backtester(
            api, "backtest", *SERIES, "--definition", str(as_yaml), "--wait", "--json"
        )
        builtin = await backtester(api, "backtest", *SERIES, *SMA, "--wait", "--json")
    assert by_name.status == inline.status == builtin.status == 0, by_name.err + inline.err
    assert by_name.json()["metrics"] == inline.json()["metrics"] == builtin.json()["metrics"]

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**SMA_DEFINITION, "long_entry": "smaa(close, 3) > close"}))
    refused = await backtester(api, "backtest", *SERIES, "--definition", str(bad))
    assert refused.status == 3 and "strategy.definition.long_entry: " in refused.err


@pytest.mark.usefixtures("candles")
async def test_cancel_a_queued_job_and_not_a_finished_one(api: Api) -> None:
    # No engine runs: the job stays queued while the command follows it, until Ctrl-C.
    following = await started(api, "backtest", *SERIES, *SMA, "--wait", "--json")
    assert following.stderr is not None
    line = await asyncio.wait_for(following.stderr.readline(), timeout=60)
    assert line.decode().startswith("following backtest ")
    job_id = line.decode().split()[2]
    following.send_signal(signal.SIGINT)
    interrupted = await finished(following)
    assert interrupted.status == 130 and interrupted.out == ""
    assert f"stopped following backtest {job_id}, which goes on" in interrupted.err
    assert api_get(api, f"/backtests/{job_id}")["status"] == "queued"

    retry = ("backtest", *SERIES, *SMA, "--idempotency-key", "retry-1", "--json")
    first, again = [await backtester(api, *retry) for _ in range(2)]
    assert first.status == again.status == 0 and first.json()["id"] == again.json()["id"]
    assert api_get(api, "/backtests")["total"] == 2
    cancelled = await backtester(api, "cancel", job_id)
    assert cancelled.status == 0 and cancelled.out.strip() == f"backtest {job_id} cancelled"
    again = await backtester(api, "cancel", job_id)
    assert again.status == 1 and "already cancelled" in again.err
    shown = await backtester(api, "show", job_id, "--json")
    assert shown.status == 1 and shown.json()["status"] == "cancelled"
    # The cancelled job is still there: cancel never deletes.
    assert api_get(api, f"/backtests/{job_id}")["status"] == "cancelled"


NOW_MS = 1_735_689_600_000  # the simulator's clock: 2025-01-01T00:00Z


async def test_a_backfill_waited_for(api: Api, pool: asyncpg.Pool) -> None:
    sim_settings = SimSettings(port=0, clock_start=NOW_MS, history_start="2024-06-01T00:00Z")
    async with running_sim(sim_settings) as sim:
        ingest = api.settings.model_copy(
            update={"bybit_rest_url": sim.rest_url, "bybit_ws_url": sim.ws_url}
        )
        async with running_ingest(ingest):
            ran = await backtester(
                api,
                "backfill",
                *("--category", "linear", "--symbol", "ETHUSDT", "--interval", "60"),
                *("--start", "2024-07-01T00:00:00Z", "--end", "2024-07-10T23:00:00Z"),
                *("--include", "none", "--wait", "--json"),
            )
    assert ran.status == 0, ran.err
    job = ran.json()
    assert job["status"] == "succeeded" and job["progress"] == 1
    stored = await pool.fetchval(
        "SELECT count(*) FROM klines WHERE symbol = 'ETHUSDT' AND interval = '60'"
        " AND open_time BETWEEN $1 AND $2",
        datetime(2024, 7, 1, tzinfo=UTC),
        datetime(2024, 7, 10, 23, tzinfo=UTC),
    )
    assert job["rows"] == stored == 240
    shown = await backtester(api, "show", job["id"])
    assert shown.status == 0 and "backfill" in shown.out and "240" in shown.out
    listed = await backtester(api, "list", "backfills", "--json")
    assert [b["id"] for b in listed.json()["items"]] == [job["id"]]


def _row(out: str, name: str, after: str = "") -> str:
    """The cells of the (first) table row whose first cell is `name`, after the text `after`."""
    lines = out[out.index(after) :].splitlines()
    line = next(line for line in lines if line.startswith(f"│ {name} "))
    return " ".join(part.strip() for part in line.split("│")[2:-1])


@pytest.mark.usefixtures("candles")
async def test_every_field_has_an_option_and_the_tables_show_the_setup(
    api: Api, pool: asyncpg.Pool
) -> None:
    perpetual = (
        *("--leverage", "3", "--no-funding", "--mmr", "0.01", "--direction", "long_short"),
        *("--position-size", "0.5", "--stop-loss", "0.05", "--trailing-stop", "atr:3"),
        *("--monte-carlo", "200:7"),
    )
    async with running_engine(api.settings):
        ran = await backtester(api, "backtest", *SERIES, *SMA, *perpetual, "--wait", "--json")
        plain = await backtester(api, "backtest", *SERIES, *SMA, "--wait", "--json")
    assert ran.status == 0 and plain.status == 0, ran.err + plain.err
    job = ran.json()
    request = job["request"]
    assert (request["leverage"], request["funding"], request["maintenance_margin_rate"]) == (
        3,
        False,
        0.01,
    )
    assert request["monte_carlo"] == {"runs": 200, "seed": 7}
    assert request["trailing_stop"] == {"atr": 3} and request["position_size"] == 0.5
    # Every submission carried its own Idempotency-Key (none was given).
    keys = await pool.fetch("SELECT key, job_id FROM idempotency_keys WHERE scope = 'backtests'")
    assert {row["job_id"] for row in keys} == {UUID(job["id"]), UUID(plain.json()["id"])}
    assert len({row["key"] for row in keys}) == 2

    shown = await backtester(api, "show", job["id"])
    assert shown.status == 0, shown.err
    assert _row(shown.out, "leverage") == "3x" and _row(shown.out, "direction") == "long_short"
    assert _row(shown.out, "stops") == "stop_loss 5.00%, trailing_stop 3 ATR"
    assert _row(shown.out, "position_size") == "50.00%"
    assert "funding" in shown.out and "monte_carlo" in shown.out
    metrics = job["metrics"]
    assert _row(shown.out, "total_return") == formatted("total_return", metrics["total_return"])
    assert _row(shown.out, "max_drawdown").endswith("%")
    monte_carlo = job["monte_carlo"]
    assert f"probability of a loss {formatted('prob_loss', monte_carlo['prob_loss'])}" in shown.out
    assert _row(shown.out, "final_equity", "Monte Carlo").split() == [
        formatted("final_equity", monte_carlo["final_equity"][p]) for p in PERCENTILES
    ]

    listed = await backtester(api, "list")
    assert listed.status == 0
    line = next(line for line in listed.out.splitlines() if job["id"] in line)
    assert "sma_cross" in line and "3x long_short" in line

    compared = await backtester(api, "compare", job["id"], plain.json()["id"])
    assert compared.status == 0, compared.err
    assert _row(compared.out, "leverage").split() == ["3x", "1x"]
    assert _row(compared.out, "sharpe").split() == [
        formatted("sharpe", j["metrics"]["sharpe"]) for j in (job, plain.json())
    ]
    as_json = await backtester(api, "compare", job["id"], plain.json()["id"], "--json")
    assert as_json.json()["items"] == [
        api_get(api, f"/backtests/{j['id']}") for j in (job, plain.json())
    ]
    alone = await backtester(api, "compare", job["id"])
    assert alone.status == 2 and "at least two" in alone.err


@pytest.mark.usefixtures("candles")
async def test_rerun_and_returns(api: Api) -> None:
    async with running_engine(api.settings):
        first = await backtester(api, "backtest", *SERIES, *SMA, "--wait", "--json")
        assert first.status == 0, first.err
        original = first.json()
        again = await backtester(api, "rerun", original["id"], "--wait", "--json")
        table = await backtester(api, "rerun", original["id"], "--wait")
    assert again.status == 0, again.err
    rerun = again.json()
    assert rerun["rerun_of"] == original["id"] and rerun["reproduced"] is True
    assert rerun["metrics"] == original["metrics"]
    assert table.status == 0 and _row(table.out, "rerun of") == original["id"]
    assert _row(table.out, "reproduced") == "true"
    assert api_get(api, "/backtests")["total"] == 3

    months = await backtester(api, "returns", original["id"], "--period", "month", "--json")
    if months.status == 3:  # an API without GET /backtests/{id}/returns yet
        assert "serves no period returns" in months.err
        return
    assert months.status == 0, months.err
    items = months.json()["items"]
    assert months.json() == api_get(api, f"/backtests/{original['id']}/returns", period="month")
    # The months chain into the whole range's return.
    growth = 1.0
    for item in items:
        growth *= 1 + item["return"]
    assert growth - 1 == pytest.approx(original["metrics"]["total_return"], abs=1e-9)
    grid = await backtester(api, "returns", original["id"])
    assert grid.status == 0 and "2024" in grid.out
    assert formatted("return", items[0]["return"]) in grid.out


@pytest.mark.usefixtures("candles")
async def test_an_optimization_shows_robustness_and_out_of_sample_metrics(
    api: Api, tmp_path: Path
) -> None:
    definition = tmp_path / "cross.json"
    definition.write_text(json.dumps(SMA_DEFINITION))
    saved = await backtester(api, "strategies", "save", "my_cross", "--definition", str(definition))
    assert saved.status == 0, saved.err
    async with running_engine(api.settings):
        grid = await backtester(
            api,
            "optimize",
            *SERIES,
            *("--strategy", "my_cross", "--grid", "fast=3,5,8", "--grid", "slow=20,30"),
            *("--objective", "calmar", "--robustness-blocks", "4", "--leverage", "2"),
            "--wait",
        )
        walk = await backtester(
            api,
            "optimize",
            *SERIES,
            *("--strategy", "sma_cross", "--grid", "fast=5,10", "--train-bars", "300"),
            *("--test-bars", "200", "--wait", "--json"),
        )
        by_name = await backtester(
            api, "backtest", *SERIES, "--strategy", "my_cross", "--wait", "--json"
        )
    assert grid.status == 0 and walk.status == 0, grid.err + walk.err
    [job] = api_get(api, "/optimizations", kind="grid")["items"]
    assert job["request"]["robustness_blocks"] == 4 and job["request"]["backtest"]["leverage"] == 2
    ranked = api_get(api, f"/optimizations/{job['id']}/results", order_by="calmar")["items"]
    assert "top 6 of 6 by calmar" in grid.out
    assert _row(grid.out, "1").startswith(json.dumps(ranked[0]["params"], separators=(",", ":")))
    robustness = job["robustness"]
    assert _row(grid.out, "dsr") == formatted("dsr", robustness["dsr"])
    assert _row(grid.out, "pbo") == formatted("pbo", robustness["pbo"])
    assert _row(grid.out, "trials") == str(robustness["trials"])
    assert _row(grid.out, "leverage") == "2x"

    shown = await backtester(api, "show", walk.json()["id"])
    summary = walk.json()["walk_forward"]
    assert f"out of sample ({summary['windows']} windows)" in shown.out
    assert _row(shown.out, "total_return") == formatted(
        "total_return", summary["test_metrics"]["total_return"]
    )

    # `list --strategy` matches the name a job ran under.
    listed = await backtester(api, "list", "optimizations", "--strategy", "sma_cross", "--json")
    assert [o["id"] for o in listed.json()["items"]] == [walk.json()["id"]]
    backtest = by_name.json()
    if "strategy_name" in backtest:  # an API that answers it (contract: Resource shapes)
        assert backtest["strategy_name"] == "my_cross"
        found = await backtester(api, "list", "--strategy", "my_cross", "--json")
        assert [b["id"] for b in found.json()["items"]] == [backtest["id"]]
        table = await backtester(api, "list")
        assert "my_cross" in next(line for line in table.out.splitlines() if backtest["id"] in line)


@pytest.mark.usefixtures("candles")
async def test_a_submission_through_a_stalled_database_is_retried_and_made_once(
    cli_settings: Settings, pool: asyncpg.Pool
) -> None:
    """Every COMMIT stalls for a while: the command's first attempt is answered 503 with the
    job's fate unknown, and it retries with the key it sent until the job is there, once."""
    proxy = await TcpProxy.to(cli_settings.database_url)
    port = free_port()
    served = cli_settings.model_copy(
        update={"api_port": port, "database_url": proxy.url(cli_settings.database_url)}
    )
    try:
        async with service_process("services.api", served) as proc:
            await wait_until_serving(f"http://127.0.0.1:{port}/api/v1/readyz", proc, within=60)
            api = Api(f"http://127.0.0.1:{port}/api/v1", cli_settings)
            proxy.stall_on(b"COMMIT;")
            submitting = await started(api, "backtest", *SERIES, *SMA, "--json")
            assert submitting.stderr is not None
            told = await asyncio.wait_for(submitting.stderr.readline(), timeout=60)
            proxy.resume()
            ran = await finished(submitting)
    finally:
        await proxy.close()
    assert "HTTP 503" in told.decode() and "same Idempotency-Key" in told.decode(), told
    assert ran.status == 0, ran.err
    assert [r["id"] for r in await pool.fetch("SELECT id FROM backtests")] == [
        UUID(ran.json()["id"])
    ]


@pytest.mark.usefixtures("candles")
async def test_a_bayes_search_from_the_command_line(api: Api) -> None:
    space = (
        "--space",
        "fast=2:15",
        "--space",
        "slow=20,40",
        "--space",
        "trailing_stop=0.01:0.2:log",
    )
    search = ("--trials", "12", "--batch", "4", "--seed", "1", "--sampler", "random")
    async with running_engine(api.settings):
        run = await backtester(
            api, "optimize", *SERIES, "--strategy", "sma_cross", *space, *search, "--wait", "--json"
        )
    assert run.status == 0, run.err
    job = run.json()
    assert job["kind"] == "bayes" and job["status"] == "succeeded", job["error"]
    assert job["request"]["param_space"] == {
        "fast": {"low": 2, "high": 15, "step": None, "log": False},
        "slow": [20, 40],
        "trailing_stop": {"low": 0.01, "high": 0.2, "step": None, "log": True},
    }
    assert job["request"]["search"] == {"trials": 12, "batch": 4, "sampler": "random", "seed": 1}
    assert job["progress"] == {"done": 12, "total": 12}
    shown = await backtester(api, "show", job["id"])
    assert (
        shown.status == 0 and "fast=2..15; slow=[20,40]; trailing_stop=0.01..0.2 log" in shown.out
    )
    assert "importance" in shown.out
