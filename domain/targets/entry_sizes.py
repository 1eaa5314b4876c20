"""The `size` rule of an expression strategy: which bars enter, and with what share.

Each entry's size is the rule's value at the bar whose target opens the position (its signal
bar), clipped to [0, 1]; where it is missing or 0 that bar does not enter, and a later bar
may while the target holds. This turns the strategy's targets into the targets the fill
kernel acts on (flat where an entry was skipped) and the size of each entry at its signal
bar, so the kernel itself only scales an entry's quantity. Trading starts flat at its first
bar, so a target held from the warm-up opens its position there, at that bar's size.
"""

import numpy as np
import numpy.typing as npt

from domain.compiled_cache import njit

Targets = npt.NDArray[np.int8]
FloatArray = npt.NDArray[np.float64]


@njit(cache=True)
def _sized_entries(
    targets: Targets, sizes: FloatArray, trade_from: int
) -> tuple[Targets, FloatArray]:
    acted = targets.copy()  # before trade_from the kernel reads none of it
    entry_size = np.zeros(targets.size)
    held = 0  # the target the kernel is given
    for t in range(trade_from, targets.size):
        wanted = targets[t]
        if wanted == 0:
            held = 0
        elif wanted != held:
            if sizes[t] > 0.0:
                held = wanted
                entry_size[t] = sizes[t]
            else:
                held = 0  # no entry at this bar; a reversal's exit still happens
        acted[t] = held
    return acted, entry_size


def sized_entries(
    targets: Targets, sizes: FloatArray, trade_from: int = 0
) -> tuple[Targets, FloatArray]:
    """(targets the kernel acts on, each entry's size at its signal bar, 0 elsewhere), from
    the strategy's targets and the size rule per bar (already clipped to [0, 1]), for a
    simulation that trades from bar `trade_from`."""
    return _sized_entries(
        np.ascontiguousarray(targets, np.int8),
        np.ascontiguousarray(sizes, np.float64),
        trade_from,
    )
