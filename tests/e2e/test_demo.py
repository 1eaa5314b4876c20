"""`make demo` end to end: what it prints, what it writes, and that it stops what it started."""

import os
from pathlib import Path

import pytest
from domain.metrics.names import METRIC_KEYS

from devtools.launcher import free_port, run_module
from shared.settings import Settings

pytestmark = pytest.mark.e2e


async def test_the_demo_prints_results_writes_a_chart_and_cleans_up(
    settings: Settings, tmp_path: Path
) -> None:
    env = {**os.environ, **settings.environment(), "API_PORT": str(free_port())}
    code, printed = await run_module(
        "devtools.demo", "--out", str(tmp_path / "out"), env=env, cwd=tmp_path, within=400
    )
    assert code == 0, printed[-3000:]
    printed = " ".join(printed.split())  # table titles wrap to the table's width
    assert "backtest: sma_cross 10/30 on BTCUSDT 1h" in printed
    assert all(key in printed for key in METRIC_KEYS)
    assert "grid search: top 5 of 15" in printed and "(1 skipped)" in printed
    assert "best parameters: fast=" in printed
    chart = tmp_path / "out" / "equity.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000
    assert "stopped every process the demo started" in printed
    assert not list((tmp_path / "logs").glob("*.pid")), "no process left behind"
    for name in ("demo-api", "demo-ingest", "demo-engine-1", "demo-engine-2", "demo-bybit-sim"):
        assert (tmp_path / "logs" / f"{name}.log").exists()
