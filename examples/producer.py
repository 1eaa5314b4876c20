"""A message-queue producer: submits a backtest and a grid search over RabbitMQ, waits for
their results on the events exchange, and prints the metrics. Needs only aio-pika.

    AMQP_URL=amqp://producer:producer@127.0.0.1:5672/ python examples/producer.py

The protocol (GET /api/v1/asyncapi.json describes it):
- publish `{"type": "SubmitBacktest", "version": 1, "id": "<uuid>", "request": {...}}` to the
  exchange `<prefix>.submit` with routing key `submit`; `request` is the body of
  POST /api/v1/backtests, `id` the idempotency key (publishing it again is harmless);
- with `reply_to` and `correlation_id` set, the answer is a `SubmissionAccepted` (the job) or
  a `SubmissionRejected` (the HTTP API's error, field by field);
- bind a queue of your own to the topic exchange `<prefix>.events` (`backtest.*`,
  `optimization.*`, `backfill.*`): each job's end arrives there with its results, and its
  `submission_id` is your message's `id`.
"""

import argparse
import asyncio
import json
import os
import sys
import uuid
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

SHOWN_METRICS = ("total_return", "sharpe", "max_drawdown", "num_trades", "win_rate")


def requests(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The two submissions: a backtest, and a grid search over the same data."""
    backtest = {
        "category": args.category,
        "symbol": args.symbol,
        "interval": args.interval,
        "start": args.start,
        "end": args.end,
        "strategy": {"name": "sma_cross", "params": {"fast": 10, "slow": 30}},
    }
    grid = {
        "kind": "grid",
        "backtest": {**backtest, "strategy": {"name": "sma_cross"}},
        "param_grid": {"fast": [5, 10, 20], "slow": [30, 50]},
        "objective": "sharpe",
    }
    return {"SubmitBacktest": backtest, "SubmitOptimization": grid}


class Producer:
    def __init__(self, channel: AbstractChannel, prefix: str) -> None:
        self.channel = channel
        self.prefix = prefix
        self.answers: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    def own_queue(self, what: str) -> str:
        """A producer may only declare queues named `<prefix>.producer.<anything>` (or named by
        the server); aio-pika's robust channel names its anonymous queues itself."""
        return f"{self.prefix}.producer.{what}-{uuid.uuid4().hex}"

    async def listen(self) -> AbstractQueue:
        """A reply queue and an events queue, both this connection's own (deleted with it),
        bound before anything is submitted so that no answer or event can be missed."""
        replies = await self.channel.declare_queue(self.own_queue("replies"), exclusive=True)
        await replies.consume(self._on_reply, no_ack=True)
        events = await self.channel.declare_queue(self.own_queue("events"), exclusive=True)
        exchange = await self.channel.get_exchange(f"{self.prefix}.events")
        for key in ("backtest.*", "optimization.*"):
            await events.bind(exchange, routing_key=key)
        await events.consume(self._on_event, no_ack=True)
        return replies

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        waiting = self.answers.get(message.correlation_id or "")
        if waiting is not None and not waiting.done():
            waiting.set_result(json.loads(message.body))

    async def _on_event(self, message: AbstractIncomingMessage) -> None:
        await self.events.put((message.routing_key or "", json.loads(message.body)))

    async def submit(
        self, replies: AbstractQueue, message_type: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        """Publish one submission (persistent, confirmed by the broker) and wait for its
        answer."""
        submission_id = str(uuid.uuid4())
        self.answers[submission_id] = asyncio.get_running_loop().create_future()
        body = {"type": message_type, "version": 1, "id": submission_id, "request": request}
        exchange = await self.channel.get_exchange(f"{self.prefix}.submit")
        await exchange.publish(
            aio_pika.Message(
                json.dumps(body).encode(),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=submission_id,
                correlation_id=submission_id,
                reply_to=replies.name,
            ),
            routing_key="submit",
        )
        return await self.answers[submission_id]

    async def results(self, submission_ids: set[str]) -> dict[str, dict[str, Any]]:
        """The final event of each submission's job (progress is printed as it comes)."""
        ended: dict[str, dict[str, Any]] = {}
        while len(ended) < len(submission_ids):
            key, event = await self.events.get()
            if event.get("submission_id") not in submission_ids:
                continue  # someone else's job
            if key.endswith(".progress"):
                progress = event.get("progress") or {}
                print(f"  {key} {event['status']} {progress.get('done')}/{progress.get('total')}")
                continue
            ended[event["submission_id"]] = {"routing_key": key, **event}
        return ended


def show(event: dict[str, Any]) -> None:
    print(f"{event['routing_key']}: {event['kind']} {event['job_id']}")
    if event["status"] == "failed":
        print(f"  error: {event['error']}")
    elif event["kind"] == "backtest":
        for name in SHOWN_METRICS:
            print(f"  {name}: {event['metrics'].get(name)}")
    else:
        best = event.get("best") or {}
        print(f"  best params: {best.get('params')}")
        for name in SHOWN_METRICS:
            print(f"  {name}: {(best.get('metrics') or {}).get(name)}")


async def run(args: argparse.Namespace) -> int:
    connection = await aio_pika.connect_robust(args.amqp_url)
    async with connection:
        channel = await connection.channel()  # publisher confirms are on by default
        producer = Producer(channel, args.prefix)
        replies = await producer.listen()
        jobs: dict[str, dict[str, Any]] = {}
        for message_type, request in requests(args).items():
            answer = await asyncio.wait_for(producer.submit(replies, message_type, request), 60)
            if answer["type"] != "SubmissionAccepted":
                print(f"{message_type} rejected: {json.dumps(answer['error'])}", file=sys.stderr)
                return 1
            print(f"{message_type} accepted: {answer['job']['kind']} {answer['job']['id']}")
            jobs[answer["id"]] = answer["job"]
        ended = await asyncio.wait_for(producer.results(set(jobs)), args.timeout)
    for event in ended.values():
        show(event)
    if args.json:
        print(json.dumps({"jobs": jobs, "events": list(ended.values())}))
    return 0 if all(e["status"] == "succeeded" for e in ended.values()) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description="Submit a backtest and a grid over RabbitMQ.")
    parser.add_argument(
        "--amqp-url",
        default=os.environ.get("AMQP_URL", "amqp://producer:producer@127.0.0.1:5672/"),
    )
    parser.add_argument("--prefix", default=os.environ.get("AMQP_PREFIX", "backtester"))
    parser.add_argument("--category", default="linear")
    parser.add_argument("--symbol", default="BTCUSDT")
    parser.add_argument("--interval", default="60")
    parser.add_argument("--start", default="2024-01-01T00:00:00Z")
    parser.add_argument("--end", default="2024-03-01T00:00:00Z")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for results")
    parser.add_argument("--json", action="store_true", help="end with the results as JSON")
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
