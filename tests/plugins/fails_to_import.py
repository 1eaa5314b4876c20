import a_module_that_does_not_exist  # noqa: F401


def targets(candles, params):
    return [0] * len(candles)
