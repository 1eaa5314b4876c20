def targets(candles, params):
    return [2] * len(candles)
