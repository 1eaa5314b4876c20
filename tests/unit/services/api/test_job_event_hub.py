"""The event hub: one event per change of a job's state, a bounded buffer, resuming by id."""

import asyncio

from services.api.job_events import _BROKER_EVENTS, JobEventHub
from shared.messages import EVENTS, message_type


def test_a_state_is_told_once_and_progress_counts_as_a_change() -> None:
    hub = JobEventHub()
    for done in (0, 0, 1, 1, 2):
        hub.record("optimization", "a", "running", done=done, total=2, source="database")
    hub.record("optimization", "a", "succeeded", done=2, total=2, source="broker")
    hub.record("optimization", "a", "succeeded", source="database")  # no progress: same end
    told = [(e.data["status"], e.data["progress"]) for e in hub.after(None)]
    assert told == [
        ("running", {"done": 0, "total": 2}),
        ("running", {"done": 1, "total": 2}),
        ("running", {"done": 2, "total": 2}),
        ("succeeded", {"done": 2, "total": 2}),
    ]


def test_the_buffer_is_bounded_and_resumes_after_a_known_id() -> None:
    hub = JobEventHub(capacity=3)
    for n in range(5):
        hub.record("backtest", str(n), "queued", source="database")
    events = hub.after(None)
    assert [e.data["id"] for e in events] == ["2", "3", "4"]
    assert [e.data["id"] for e in hub.after(hub.event_id(events[0]))] == ["3", "4"]
    assert hub.after(hub.latest_id()) == []
    # An id of another process (a restart) or garbage: the whole buffer.
    assert len(hub.after("deadbeef-3")) == 3 and len(hub.after("nonsense")) == 3


def test_a_waiting_stream_wakes_on_the_next_event() -> None:
    async def scenario() -> tuple[bool, bool]:
        hub = JobEventHub()
        idle = await hub.wait(0.01)
        waiter = asyncio.create_task(hub.wait(5))
        await asyncio.sleep(0)
        hub.record("backfill", "b", "running", done=1, total=9, source="database")
        return idle, await waiter

    assert asyncio.run(scenario()) == (False, True)


def test_every_job_event_on_the_broker_is_understood() -> None:
    assert set(_BROKER_EVENTS) == {message_type(e) for e in EVENTS}
    assert _BROKER_EVENTS["BacktestFailed"] == ("backtest", "backtest_id", "failed")
    assert _BROKER_EVENTS["BackfillCompleted"] == ("backfill", "backfill_id", "succeeded")
