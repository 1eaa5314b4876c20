"""`python -m services.engine`: an engine worker; run as many as you like."""

import os

# One OpenBLAS thread (its pool processes inherit it), read when numpy loads, so before any
# import; an operator's own value wins. The engine's only BLAS work is the robustness
# combining's small products at an optimization's end, beside its pool processes on the same
# cores: a second thread mostly spun, and the same figures took twice the CPU.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from services.engine.service import run_engine
from shared.logs import setup_logging
from shared.service_lifecycle import serve_until_signalled
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    setup_logging(settings.log_level)
    serve_until_signalled(run_engine, settings)


if __name__ == "__main__":
    main()
