"""The web UI: the same page for every deep link (a client-side router draws it) and the
static files, all public (the page asks for the API token and sends it itself)."""

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/ui"
PAGE_PATHS = (
    "/",
    "/data",
    "/strategies",
    "/backtests",
    "/backtests/{id}",
    "/compare",
    "/optimizations",
    "/optimizations/{id}",
)


async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def add_routes(app: web.Application) -> None:
    for path in PAGE_PATHS:
        app.router.add_get(path, page)
    app.router.add_static(STATIC_PATH, STATIC_DIR)
