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

import asyncpg
import httpx
import pytest
import yaml

from devtools.launcher import free_port, wait_until_serving
from services.bybit_sim.server import running_sim
from services.bybit_sim.settings import SimSettings
from shared.settings import Settings
from tests.support.market import T0, insert_candles, random_walk
from tests.support.processes import service_process
from tests.support.services import running_engine, running_ingest

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
