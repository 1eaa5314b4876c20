"""`python -m devtools.local_stack up|status|down`: the platform in the background.

Logs go to logs/NAME.log, PID files to logs/NAME.pid.
"""

import argparse
import asyncio
import os
import subprocess
import sys

import aiohttp
from rich.console import Console
from rich.table import Table

from devtools import launcher, producer_user
from devtools.preflight import NotReachable, check_servers
from devtools.stack import SIM_PORT, platform_processes
from devtools.waiting import StillWaiting, poll_until
from shared.amqp import Topology
from shared.dependencies import wait_for
from shared.migrate import migrate
from shared.producer_rights import DEFAULT_PRODUCER_USER
from shared.settings import Settings

console = Console()


def api_url(settings: Settings) -> str:
    return f"http://{settings.api_host}:{settings.api_port}"


async def readiness(settings: Settings) -> tuple[bool, str]:
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http,
            http.get(f"{api_url(settings)}/api/v1/readyz") as resp,
        ):
            body = await resp.json()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return False, f"not answering ({type(exc).__name__})"
    if resp.status == 200:
        return True, "ready"
    return False, body.get("error", {}).get("message", f"HTTP {resp.status}")


async def wait_until_ready(settings: Settings, within: float = 60) -> tuple[bool, str]:
    try:
        return await poll_until(
            lambda: readiness(settings), lambda answer: answer[0], within=within, every=0.3
        )
    except StillWaiting as exc:
        last: tuple[bool, str] = exc.last
        return last


async def up(settings: Settings, engines: int, offline: bool) -> int:
    await check_servers(settings)
    await wait_for("postgres", lambda: migrate(settings.database_url))
    # The simulator's port as the simulator itself reads it, so two stacks can run side by side.
    sim_port = int(os.environ.get("BYBIT_SIM_PORT", SIM_PORT))
    for spec in platform_processes(settings, engines=engines, offline=offline, sim_port=sim_port):
        pid = launcher.running_pid(spec.name)
        if pid is None:
            pid = launcher.start(spec)
            console.print(f"started {spec.name} (pid {pid}), log {launcher.log_file(spec.name)}")
        else:
            console.print(f"{spec.name} already running (pid {pid})")
    ready, why = await wait_until_ready(settings)
    console.print(f"API at {api_url(settings)}: {why}")
    _producer_user(settings)
    return 0 if ready else 1


def _producer_user(settings: Settings) -> None:
    """The RabbitMQ user of message-queue producers, where this machine has rabbitmqctl (a
    broker elsewhere: run `python -m devtools.producer_user` there)."""
    topology = Topology(settings.amqp_prefix)
    user = os.environ.get("PRODUCER_USER", DEFAULT_PRODUCER_USER)
    password = os.environ.get("PRODUCER_PASSWORD", producer_user.DEFAULT_PASSWORD)
    try:
        producer_user.create_with_rabbitmqctl(topology, user, password)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        console.print(f"producer user not created ({exc}); see the README, From a message queue")
        return
    console.print(f"RabbitMQ user {user!r} for message-queue producers: ready")


async def status(settings: Settings) -> int:
    """0 when nothing runs, or when everything `make up` started runs and the API is ready."""
    names = launcher.known_names()
    pids = {name: launcher.running_pid(name) for name in names}  # removes stale PID files
    if not any(pids.values()):
        stale = f" (stale PID files removed: {', '.join(names)})" if names else ""
        console.print(f"nothing runs: no process started by `make up` is alive{stale}")
        return 0
    table = Table("process", "pid", "state", "log")
    for name, pid in pids.items():
        state = "running" if pid else "[red]gone (stale PID file removed)[/red]"
        table.add_row(name, str(pid or "-"), state, str(launcher.log_file(name)))
    console.print(table)
    ready, why = await readiness(settings)
    console.print(f"API at {api_url(settings)}: {'[green]' if ready else '[red]'}{why}")
    return 0 if ready and all(pids.values()) else 1


def down() -> int:
    # Workers first, so nothing is left holding a job whose API is gone.
    order = sorted(launcher.known_names(), key=lambda n: (n == "bybit-sim", n == "api", n))
    for name in order:
        console.print(f"{name}: {'stopped' if launcher.stop(name) else 'was not running'}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.local_stack")
    parser.add_argument("command", choices=["up", "status", "down"])
    parser.add_argument("--engines", type=int, default=2, help="engine workers to start")
    parser.add_argument(
        "--offline", action="store_true", help="also start the simulated Bybit and use it"
    )
    args = parser.parse_args()
    settings = Settings()
    try:
        if args.command == "up":
            code = asyncio.run(up(settings, args.engines, args.offline))
        elif args.command == "status":
            code = asyncio.run(status(settings))
        else:
            code = down()
    except NotReachable as exc:
        console.print(f"[red]{exc}[/red]")
        code = 2
    sys.exit(code)


if __name__ == "__main__":
    main()
