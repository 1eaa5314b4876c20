"""Monte Carlo of a backtest's trades: closed trades' returns resampled with replacement, each
run compounding from the initial capital, to show the spread luck alone could give."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

PERCENTILES = {"p5": 5, "p25": 25, "p50": 50, "p75": 75, "p95": 95}
# Draws held at once (runs x trades): bounds the memory whatever the request.
DRAWS_PER_BATCH = 4_000_000


@dataclass(frozen=True)
class MonteCarlo:
    runs: int
    seed: int
    final_equity: dict[str, float]
    max_drawdown: dict[str, float]
    prob_loss: float

    def as_json(self) -> dict[str, object]:
        return {
            "runs": self.runs,
            "seed": self.seed,
            "final_equity": self.final_equity,
            "max_drawdown": self.max_drawdown,
            "prob_loss": self.prob_loss,
        }


def resample_trades(
    trade_returns: npt.NDArray[np.float64], initial_capital: float, runs: int, seed: int
) -> MonteCarlo:
    """The same seed gives the same numbers; with no closed trade every run stays flat."""
    returns = np.asarray(trade_returns, np.float64)
    trades = returns.size
    finals = np.full(runs, initial_capital)
    drawdowns = np.zeros(runs)
    if trades:
        rng = np.random.default_rng(seed)
        batch = max(1, DRAWS_PER_BATCH // trades)
        for start in range(0, runs, batch):
            stop = min(runs, start + batch)
            growth = np.cumprod(1.0 + returns[rng.integers(0, trades, (stop - start, trades))], 1)
            path = initial_capital * np.concatenate([np.ones((stop - start, 1)), growth], axis=1)
            peaks = np.maximum.accumulate(path, axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                drawdown = np.where(peaks > 0, 1.0 - path / peaks, 0.0)
            finals[start:stop] = path[:, -1]
            drawdowns[start:stop] = drawdown.max(axis=1)
    return MonteCarlo(
        runs,
        seed,
        _percentiles(finals),
        _percentiles(drawdowns),
        float(np.mean(finals < initial_capital)),
    )


def _percentiles(values: npt.NDArray[np.float64]) -> dict[str, float]:
    points = np.percentile(values, list(PERCENTILES.values()))
    return {key: float(v) for key, v in zip(PERCENTILES, points, strict=True)}
