"""Research statistics: Monte Carlo, probabilistic and deflated Sharpe, overfitting."""
