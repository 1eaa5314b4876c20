"""The OpenAPI document and a page to browse it, both public and served offline; the AsyncAPI
document of the message-queue producers' side (behind the token, like every other route).

The page is Swagger UI 5 (it reads OpenAPI 3.1), from the files the swagger-ui-py package ships.
"""

import importlib.util
from pathlib import Path

from aiohttp import web

from services.api.endpoints import Endpoint, json_response

OPENAPI_DOCUMENT = web.AppKey("openapi_document", dict)
ASYNCAPI_DOCUMENT = web.AppKey("asyncapi_document", dict)
OPENAPI_PATH = "/api/v1/openapi.json"
ASYNCAPI_PATH = "/api/v1/asyncapi.json"
DOCS_PATH = "/api/v1/docs"
DOCS_STATIC = "/api/v1/docs/static"


def swagger_ui_files() -> Path:
    """The bundled Swagger UI, found without importing the package (it imports a web stack)."""
    spec = importlib.util.find_spec("swagger_ui")
    assert spec is not None and spec.submodule_search_locations, "swagger-ui-py is not installed"
    return Path(next(iter(spec.submodule_search_locations))) / "static"


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>backtester API</title>
<link rel="stylesheet" href="{static}/swagger-ui.css">
<link rel="icon" type="image/png" href="{static}/favicon-32x32.png"></head>
<body>
<p style="font-family: sans-serif; margin: 1em 2em">Message-queue producers: the
<a href="{asyncapi}">AsyncAPI 3.0 document</a> of the RabbitMQ submissions, replies and job
events.</p>
<div id="ui"></div>
<script src="{static}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{url: "{spec}", dom_id: "#ui", deepLinking: true,
  persistAuthorization: true}});
</script>
</body></html>
"""


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI_DOCUMENT])


async def asyncapi_json(request: web.Request) -> web.Response:
    return json_response(request.app[ASYNCAPI_DOCUMENT])


async def docs(request: web.Request) -> web.Response:
    page = DOCS_PAGE.format(static=DOCS_STATIC, spec=OPENAPI_PATH, asyncapi=ASYNCAPI_PATH)
    return web.Response(text=page, content_type="text/html")


ENDPOINTS = [
    Endpoint(
        "GET",
        OPENAPI_PATH,
        openapi_json,
        "This OpenAPI document",
        "docs",
        public=True,
        operation_id="getOpenapiDocument",
    ),
    Endpoint(
        "GET",
        ASYNCAPI_PATH,
        asyncapi_json,
        "The AsyncAPI 3.0 document of the AMQP submissions, their replies and the job events",
        "docs",
        operation_id="getAsyncapiDocument",
    ),
    Endpoint(
        "GET",
        DOCS_PATH,
        docs,
        "Browsable API docs (Swagger UI)",
        "docs",
        content_type="text/html",
        public=True,
        operation_id="getDocsPage",
    ),
]


def add_static(app: web.Application) -> None:
    app.router.add_static(DOCS_STATIC, swagger_ui_files())
