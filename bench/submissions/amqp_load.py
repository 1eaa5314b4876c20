"""A closed-loop AMQP load: `in_flight` submissions at a time, each publisher sending its next
`SubmitBacktest` as soon as the answer to the previous one is in, with its latency from the
publish to the reply read. Latencies of the first `warmup_seconds` are left out.

Straight through aiormq, as lean a producer as the HTTP load generator is a client: on a
machine of two cores the producer's own CPU would otherwise be taken from the API's."""

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiormq
import orjson
from aiormq.abc import DeliveredMessage

from bench.api.load_generator import LoadSummary, percentile
from shared.amqp import SUBMIT_ROUTING_KEY, Topology, publish

# The longest a submission's answer may take.
_REPLY_SECONDS = 30.0


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    first_error: str = ""


async def amqp_load(
    amqp_url: str,
    topology: Topology,
    request: dict[str, Any],
    *,
    in_flight: int,
    seconds: float,
    warmup_seconds: float = 1.0,
) -> LoadSummary:
    connection = await aiormq.connect(amqp_url)
    try:
        channel = await connection.channel()  # publisher confirms: each publish is confirmed
        replies = (await channel.queue_declare(exclusive=True)).queue
        assert replies is not None
        waiting: dict[str, asyncio.Future[bytes]] = {}

        async def on_reply(message: DeliveredMessage) -> None:
            future = waiting.pop(message.header.properties.correlation_id or "", None)
            if future is not None and not future.done():
                future.set_result(message.body)

        await channel.basic_consume(replies, on_reply, no_ack=True)
        tally = _Tally()
        started = time.perf_counter()
        measure_from = started + warmup_seconds
        stop_at = measure_from + seconds
        cpu_before = time.process_time()

        async def publisher() -> None:
            loop = asyncio.get_running_loop()
            while time.perf_counter() < stop_at:
                # A random (version 4) UUID without a system call for each.
                submission_id = str(uuid.UUID(int=random.getrandbits(128), version=4))
                body = {"type": "SubmitBacktest", "version": 1, "id": submission_id}
                future = waiting[submission_id] = loop.create_future()
                sent = time.perf_counter()
                try:
                    await publish(  # confirmed by the broker
                        channel,
                        orjson.dumps({**body, "request": request}),
                        topology.submit,
                        SUBMIT_ROUTING_KEY,
                        aiormq.spec.Basic.Properties(
                            delivery_mode=2,  # persistent
                            correlation_id=submission_id,
                            reply_to=replies,
                        ),
                    )
                    answer = orjson.loads(await future)
                except Exception as exc:
                    tally.errors += 1
                    tally.first_error = tally.first_error or f"{type(exc).__name__}: {exc}"
                    continue
                answered = time.perf_counter()
                if answered >= measure_from and answered <= stop_at:
                    tally.latencies.append((answered - sent) * 1000)
                    tally.answers[answer["type"]] += 1

        # One deadline for all (a reply that never comes fails the run), not a timer each.
        async with asyncio.timeout(warmup_seconds + seconds + _REPLY_SECONDS):
            await asyncio.gather(*(publisher() for _ in range(in_flight)))
        cpu_seconds = time.process_time() - cpu_before
    finally:
        await connection.close()
    latencies = sorted(tally.latencies)
    return LoadSummary(
        requests=len(latencies),
        seconds=seconds,
        requests_per_second=len(latencies) / seconds,
        latency_ms={
            "p50": percentile(latencies, 0.5),
            "p90": percentile(latencies, 0.9),
            "p99": percentile(latencies, 0.99),
            "max": latencies[-1] if latencies else 0.0,
        },
        statuses=dict(tally.answers),
        errors=tally.errors,
        cpu_seconds=cpu_seconds,
        first_error=tally.first_error,
    )
