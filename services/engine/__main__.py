"""`python -m services.engine`: an engine worker; run as many as you like."""

import services.engine.one_blas_thread  # noqa: F401  (before numpy loads)
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
