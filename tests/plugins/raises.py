PARAMS = {}


def targets(candles, params):
    scale = 0
    return [1 / scale] * len(candles)
