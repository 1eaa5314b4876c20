"""One BLAS thread in each engine process (the engine's own and its pool processes, which
inherit the environment): imported by `python -m services.engine` before numpy is.

Each process is sized to one core (more workers, more pool processes, for more cores). With
a thread per core, OpenBLAS's threads spin waiting for one another on a machine busy with
the other processes: a grid's robustness (its matrix products over 12,870 block splits) took
twice the CPU and three times as long. The operator's own setting wins.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
