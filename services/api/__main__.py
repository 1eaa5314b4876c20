"""`python -m services.api`: serve the REST API on API_HOST:API_PORT."""

from aiohttp import web

from services.api.app import create_app
from shared.logs import setup_logging
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    setup_logging(settings.log_level)
    web.run_app(
        create_app(settings), host=settings.api_host, port=settings.api_port, access_log=None
    )


if __name__ == "__main__":
    main()
