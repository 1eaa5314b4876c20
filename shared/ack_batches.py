"""Acknowledgements sent together: one `multiple` ack covers every delivery of a channel up to
a delivery tag, so a consumer with many deliveries in hand sends (and the broker handles) one
ack for a run of them instead of one each.

A multiple ack settles every unsettled delivery up to its tag, so it is only sent up to the
first delivery still in hand (not yet acknowledged, requeued or rejected). An ack that waits
behind a delivery in hand for longer than `longest_wait` (one held through an outage, say) is
sent by itself. Tags count per channel: a channel that closed (its unacknowledged deliveries go
back to the queue) is forgotten.
"""

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from aiormq.abc import AbstractChannel

log = logging.getLogger(__name__)

# Acks asked for within this long go out together.
GATHER_SECONDS = 0.02
# An ack kept back by an earlier delivery still in hand goes out by itself after this long.
LONGEST_WAIT_SECONDS = 0.1


class Delivery(Protocol):
    """A consumed delivery: aiormq's, or aio-pika's message wrapping one."""

    @property
    def channel(self) -> AbstractChannel: ...

    @property
    def delivery_tag(self) -> int | None: ...


@dataclass
class _ChannelAcks:
    unsettled: set[int] = field(default_factory=set)  # delivered, not yet settled
    waiting: dict[int, float] = field(default_factory=dict)  # acknowledged, not yet sent: since


class AckBatches:
    def __init__(
        self, gather: float = GATHER_SECONDS, longest_wait: float = LONGEST_WAIT_SECONDS
    ) -> None:
        self._gather = gather
        self._longest_wait = longest_wait
        self._channels: dict[AbstractChannel, _ChannelAcks] = {}
        self._sending: asyncio.Task[None] | None = None

    def received(self, message: Delivery) -> None:
        """`message` is in hand: no multiple ack may cover it until it is settled."""
        self._of(message).unsettled.add(_tag(message))

    def ack(self, message: Delivery) -> None:
        """Acknowledge `message` with the next batch."""
        acks = self._of(message)
        tag = _tag(message)
        acks.unsettled.discard(tag)
        acks.waiting[tag] = time.monotonic()
        if self._sending is None or self._sending.done():
            self._sending = asyncio.create_task(self._send_soon())

    def settled_otherwise(self, message: Delivery) -> None:
        """`message` was requeued or rejected (by itself)."""
        self._of(message).unsettled.discard(_tag(message))

    async def flush(self) -> None:
        """Send every ack that can go now (and those waited too long)."""
        for channel, acks in list(self._channels.items()):
            if channel.is_closed:
                del self._channels[channel]
                continue
            try:
                await self._send(channel, acks)
            except Exception as exc:  # the channel closed meanwhile: its deliveries return
                log.warning("acks not sent", extra={"error": f"{type(exc).__name__}: {exc}"})
                self._channels.pop(channel, None)

    def _of(self, message: Delivery) -> _ChannelAcks:
        channel = message.channel
        acks = self._channels.get(channel)
        if acks is None:
            for closed in [c for c in self._channels if c.is_closed]:
                del self._channels[closed]
            acks = self._channels[channel] = _ChannelAcks()
        return acks

    async def _send_soon(self) -> None:
        while True:
            await asyncio.sleep(self._gather)
            await self.flush()
            if not any(acks.waiting for acks in self._channels.values()):
                return

    async def _send(self, channel: AbstractChannel, acks: _ChannelAcks) -> None:
        first_in_hand = min(acks.unsettled, default=None)
        covered = [t for t in acks.waiting if first_in_hand is None or t < first_in_hand]
        if covered:
            last = max(covered)
            await channel.basic_ack(last, multiple=True)
            for tag in covered:
                del acks.waiting[tag]
        overdue = time.monotonic() - self._longest_wait
        for tag in [t for t, since in acks.waiting.items() if since < overdue]:
            await channel.basic_ack(tag)
            del acks.waiting[tag]


def _tag(message: Delivery) -> int:
    tag = message.delivery_tag
    assert tag is not None  # a consumed delivery (not a basic.get's empty answer)
    return tag
