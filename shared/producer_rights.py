"""The RabbitMQ rights of a message-queue producer's user: least privilege, written once.

A producer may publish to the submit exchange, declare, read and delete queues of its own
(server-named `amq.gen-...`, or named `<prefix>.producer.<anything>`) and bind them to the
events exchange. It cannot publish to the platform's internal exchanges, nor read, bind to or
configure the platform's queues (the submissions queue included: it is named apart from the
submit exchange for that reason).

RabbitMQ checks `configure` (declare, delete), `write` (publish to an exchange; bind a queue
as its destination) and `read` (consume a queue; bind from an exchange as the source) against
one regular expression each, per virtual host.
"""

import re
from dataclasses import dataclass

from shared.amqp import Topology

# The first words of the queue names a producer may own, besides server-named ones.
PRODUCER_QUEUE_WORD = "producer"
DEFAULT_PRODUCER_USER = "producer"


@dataclass(frozen=True)
class Permissions:
    configure: str
    write: str
    read: str

    def as_rabbitmqctl(self, user: str, vhost: str = "/") -> list[str]:
        """The arguments of `rabbitmqctl set_permissions`."""
        return ["set_permissions", "-p", vhost, user, self.configure, self.write, self.read]


def own_queue_prefix(topology: Topology) -> str:
    """What a producer's named queues start with, e.g. `backtester.producer.`."""
    return f"{topology.prefix}.{PRODUCER_QUEUE_WORD}."


def producer_permissions(topology: Topology) -> Permissions:
    own = rf"amq\.gen-.*|{re.escape(own_queue_prefix(topology))}.*"
    return Permissions(
        configure=f"^({own})$",
        write=f"^({re.escape(topology.submit)}|{own})$",
        read=f"^({re.escape(topology.events)}|{own})$",
    )
