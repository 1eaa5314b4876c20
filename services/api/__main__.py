"""`python -m services.api`: serve the REST API on API_HOST:API_PORT."""

from aiohttp import web, web_response

from services.api.app import create_app
from services.api.middleware import SERVER_NAME
from shared.logs import setup_logging
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    setup_logging(settings.log_level)
    # The app stamps its answers (see `stamp_response`); this covers the few aiohttp writes
    # itself before any app code runs (a malformed request line, oversized headers).
    web_response.SERVER_SOFTWARE = SERVER_NAME  # type: ignore[attr-defined]
    web.run_app(
        create_app(settings), host=settings.api_host, port=settings.api_port, access_log=None
    )


if __name__ == "__main__":
    main()
