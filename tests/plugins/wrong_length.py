def targets(candles, params):
    return [0, 1]
