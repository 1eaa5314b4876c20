PARAMS = {"period": {"type": "int", "default": 500, "minimum": 1, "maximum": 50}}


def targets(candles, params):
    return [0] * len(candles)
