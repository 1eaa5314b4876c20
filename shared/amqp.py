"""RabbitMQ topology, connecting, and a confirming publisher (aio-pika, robust connection).

Commands go to a direct exchange routed by message type to durable quorum queues; a message
that keeps failing is dead-lettered once the queue's delivery limit is reached. Events go to a
topic exchange for whoever wants them, under `<kind>.<outcome>`. Producers' job submissions
come in through the submit exchange (routing key `submit`) to one queue the API consumes.
Consuming is in shared.consumer.
"""

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractRobustConnection,
)

from shared.messages import COMMANDS, JobEvent, Message, event_routing_key, message_type

# Deliveries of one message before it is dead-lettered.
DELIVERY_LIMIT = 5
# The routing key of every submission on the submit exchange.
SUBMIT_ROUTING_KEY = "submit"
CONNECT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Topology:
    prefix: str

    @property
    def commands(self) -> str:
        return f"{self.prefix}.commands"

    @property
    def events(self) -> str:
        return f"{self.prefix}.events"

    @property
    def submit(self) -> str:
        """The exchange producers publish their job submissions to."""
        return f"{self.prefix}.submit"

    @property
    def submissions(self) -> str:
        """The queue of job submissions, consumed by the API (named apart from the exchange,
        so a producer's write permission on the exchange grants nothing on the queue)."""
        return f"{self.prefix}.submissions"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}.dead-letters"

    def queue_for(self, command: type[Message]) -> str:
        return f"{self.prefix}.{message_type(command)}"

    @property
    def command_queues(self) -> list[str]:
        return [self.queue_for(command) for command in COMMANDS]

    @property
    def queues(self) -> list[str]:
        """Every queue `declare` makes."""
        return [*self.command_queues, self.submissions, self.dead_letters]

    @property
    def exchanges(self) -> list[str]:
        """Every exchange `declare` makes."""
        return [self.commands, self.events, self.submit, self.dead_letters]

    async def declare(self, channel: AbstractChannel) -> None:
        """Declare the exchanges and one queue per command; idempotent."""
        await channel.declare_exchange(self.commands, aio_pika.ExchangeType.DIRECT, durable=True)
        await channel.declare_exchange(self.events, aio_pika.ExchangeType.TOPIC, durable=True)
        dead = await channel.declare_exchange(
            self.dead_letters, aio_pika.ExchangeType.FANOUT, durable=True
        )
        dead_queue = await channel.declare_queue(
            self.dead_letters, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead_queue.bind(dead)
        for command in COMMANDS:
            queue = await channel.declare_queue(
                self.queue_for(command),
                durable=True,
                arguments={
                    "x-queue-type": "quorum",
                    "x-delivery-limit": DELIVERY_LIMIT,
                    "x-dead-letter-exchange": self.dead_letters,
                },
            )
            await queue.bind(self.commands, routing_key=message_type(command))
        submit = await channel.declare_exchange(
            self.submit, aio_pika.ExchangeType.DIRECT, durable=True
        )
        submissions = await channel.declare_queue(
            self.submissions,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": DELIVERY_LIMIT,
                "x-dead-letter-exchange": self.dead_letters,
            },
        )
        await submissions.bind(submit, routing_key=SUBMIT_ROUTING_KEY)


async def connect(url: str) -> AbstractRobustConnection:
    return await aio_pika.connect_robust(url, timeout=CONNECT_TIMEOUT_SECONDS)


class Publisher:
    """Publishes persistent JSON messages and waits for the broker's confirm of each."""

    def __init__(self, commands: AbstractExchange, events: AbstractExchange) -> None:
        self._commands = commands
        self._events = events

    @classmethod
    async def open(cls, channel: AbstractChannel, topology: Topology) -> "Publisher":
        commands = await channel.get_exchange(topology.commands)
        events = await channel.get_exchange(topology.events)
        return cls(commands, events)

    async def send_command(self, message: Message) -> None:
        await self._publish(self._commands, message, mandatory=True)

    async def publish_event(self, event: JobEvent) -> None:
        await self._publish(self._events, event, mandatory=False, routing_key=event.routing_key)

    async def send_raw(
        self, exchange: str, message_type: str, message_id: str, body: bytes
    ) -> None:
        """Publish a message already serialized (the outbox stores them that way)."""
        if exchange == "commands":
            target, routing_key = self._commands, message_type
        else:
            target, routing_key = self._events, event_routing_key(message_type)
        await target.publish(
            _amqp_message(message_type, message_id, body),
            routing_key=routing_key,
            mandatory=target is self._commands,
        )

    async def _publish(
        self,
        exchange: AbstractExchange,
        message: Message,
        *,
        mandatory: bool,
        routing_key: str | None = None,
    ) -> None:
        body = message.model_dump_json().encode()
        await exchange.publish(
            _amqp_message(message.type, str(message.id), body),
            routing_key=routing_key or message.type,
            mandatory=mandatory,
        )


def _amqp_message(message_type: str, message_id: str, body: bytes) -> aio_pika.Message:
    return aio_pika.Message(
        body,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message_id,
        type=message_type,
    )
