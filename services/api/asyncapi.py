"""The AsyncAPI 3.0 document of what message-queue producers use: the submit exchange, the
replies, and the job events, built from the same pydantic models the API and the workers use.

It is written from the API's side (AsyncAPI's convention): the API receives submissions and
replies to them, and sends the job events. Payload schemas are the models' JSON Schemas,
written in the draft-07 dialect that AsyncAPI schemas extend.
"""

from typing import Any, cast
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, create_model
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from services.api.job_submission import JOB_FORMS
from shared.amqp import SUBMIT_ROUTING_KEY, Topology
from shared.jobs import JOB_TABLES
from shared.messages import EVENTS, JobEvent, JobProgressed, message_type
from shared.submissions import REPLIES, SUBMISSIONS, SubmitJob

ASYNCAPI_VERSION = "3.0.0"
_REF = "#/components/schemas/{model}"
_AMQP_BINDING = "0.3.0"
_CORRELATION = {
    "description": "The AMQP `correlation_id` property: a reply carries its submission's.",
    "location": "$message.header#/correlation_id",
}


def _documented_submission(model: type[SubmitJob]) -> type[BaseModel]:
    """The submission with its `request` typed as the matching POST's body (the wire model
    takes it as any JSON, because the API validates it exactly as the POST does)."""
    form = JOB_FORMS[model.kind]
    documented = create_model(
        model.__name__,
        __base__=model,
        __doc__=f"Submit a {model.kind} job: `request` is the body of `POST /api/v1/{form.scope}`.",
        request=(form.model, Field(description=f"the body of POST /api/v1/{form.scope}")),
    )
    return cast(type[BaseModel], documented)


def _draft_07(node: Any) -> Any:
    """pydantic writes JSON Schema 2020-12 with OpenAPI's discriminator objects; AsyncAPI's
    schemas are draft-07 (`prefixItems`, fixed-length tuples, is spelled `items`) and name a
    discriminator by its property alone."""
    if isinstance(node, list):
        return [_draft_07(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _draft_07(value) for key, value in node.items()}
    if isinstance(converted.get("discriminator"), dict):
        converted["discriminator"] = converted["discriminator"]["propertyName"]
    if "prefixItems" in converted:
        converted["items"] = converted.pop("prefixItems")
        converted.setdefault("additionalItems", False)
    return converted


def _exchange(name: str, kind: str) -> dict[str, Any]:
    return {
        "amqp": {
            "is": "routingKey",
            "exchange": {
                "name": name,
                "type": kind,
                "durable": True,
                "autoDelete": False,
                "vhost": "/",
            },
            "bindingVersion": _AMQP_BINDING,
        }
    }


def _message(name: str, schema_ref: dict[str, Any], summary: str) -> dict[str, Any]:
    return {
        "name": name,
        "title": name,
        "summary": summary,
        "contentType": "application/json",
        "payload": schema_ref,
        "correlationId": _CORRELATION,
        "bindings": {"amqp": {"messageType": name, "bindingVersion": _AMQP_BINDING}},
    }


def _summary(model: type[BaseModel]) -> str:
    return (model.__doc__ or model.__name__).strip().splitlines()[0]


def asyncapi_document(topology: Topology, amqp_url: str, *, version: str) -> dict[str, Any]:
    submissions = [_documented_submission(model) for model in SUBMISSIONS]
    answers: list[type[BaseModel]] = [*REPLIES, *EVENTS, JobProgressed]
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((m, "validation") for m in submissions),
        *((m, "serialization") for m in answers),
    ]
    refs, top = models_json_schema(models, ref_template=_REF)

    def ref(model: type[BaseModel], mode: JsonSchemaMode = "serialization") -> dict[str, Any]:
        return refs[(model, mode)]

    messages: dict[str, Any] = {}
    for model in submissions:
        messages[model.__name__] = _message(
            model.__name__, ref(model, "validation"), _summary(model)
        )
    for reply in REPLIES:
        messages[message_type(reply)] = _message(message_type(reply), ref(reply), _summary(reply))
    events: list[type[JobEvent]] = [*EVENTS, JobProgressed]
    for event in events:
        messages[message_type(event)] = _message(message_type(event), ref(event), _summary(event))

    def to_message(name: str) -> dict[str, str]:
        return {"$ref": f"#/components/messages/{name}"}

    channels: dict[str, Any] = {
        "submit": {
            "address": SUBMIT_ROUTING_KEY,
            "title": "Job submissions",
            "description": (
                f"Publish to the direct exchange `{topology.submit}` with routing key "
                f"`{SUBMIT_ROUTING_KEY}`, persistent, with `reply_to` and `correlation_id` "
                "to be answered. The `id` is the idempotency key."
            ),
            "messages": {m.__name__: to_message(m.__name__) for m in submissions},
            "bindings": _exchange(topology.submit, "direct"),
        },
        "replies": {
            "address": None,
            "title": "Answers to submissions",
            "description": "The queue named by the submission's `reply_to`.",
            "messages": {message_type(m): to_message(message_type(m)) for m in REPLIES},
        },
    }
    operations: dict[str, Any] = {
        "receiveSubmission": {
            "action": "receive",
            "title": "Submit a job",
            "summary": "Validated and created exactly as the matching POST; answered once.",
            "channel": {"$ref": "#/channels/submit"},
            "messages": [{"$ref": f"#/channels/submit/messages/{m.__name__}"} for m in submissions],
            "reply": {
                "address": {
                    "description": "The submission's `reply_to`.",
                    "location": "$message.header#/reply_to",
                },
                "channel": {"$ref": "#/channels/replies"},
                "messages": [
                    {"$ref": f"#/channels/replies/messages/{message_type(m)}"} for m in REPLIES
                ],
            },
        }
    }
    for kind in JOB_TABLES:
        for outcome in ("succeeded", "failed", "progress"):
            key = f"{kind}.{outcome}"
            names = [message_type(e) for e in events if _routes_to(e, kind, outcome)]
            channel_name = key.replace(".", "_")
            channels[channel_name] = {
                "address": key,
                "title": f"{kind} {outcome}",
                "description": f"Routing key `{key}` on the topic exchange `{topology.events}`.",
                "messages": {name: to_message(name) for name in names},
                "bindings": _exchange(topology.events, "topic"),
            }
            operations[f"send_{channel_name}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel_name}"},
                "messages": [
                    {"$ref": f"#/channels/{channel_name}/messages/{name}"} for name in names
                ],
            }
    document: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "backtester message-queue producers",
            "version": version,
            "description": (
                "Submit backtests, optimizations and backfills over RabbitMQ and follow their "
                "results without HTTP. Bind a queue of your own to the events exchange "
                f"`{topology.events}` (e.g. `backtest.*`, `#`)."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": _draft_07(top.get("$defs", {})),
            "messages": messages,
        },
    }
    server = _server(amqp_url)
    if server is not None:
        document["servers"] = {"broker": server}
    return document


def _routes_to(event: type[JobEvent], kind: str, outcome: str) -> bool:
    if event is JobProgressed:
        return outcome == "progress"
    return bool(event.model_fields["kind"].default == kind and event.outcome == outcome)


def _server(amqp_url: str) -> dict[str, Any] | None:
    """The broker as this API reaches it (host and port only, never credentials)."""
    parts = urlsplit(amqp_url)
    if not parts.hostname:
        return None
    return {
        "host": f"{parts.hostname}:{parts.port or 5672}",
        "protocol": "amqp",
        "protocolVersion": "0.9.1",
        "description": "RabbitMQ; producers connect with a user of their own (see the README).",
    }
