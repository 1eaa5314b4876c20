import asyncio
import time

from services.ingest.request_pacing import RequestPacer


async def test_requests_are_evenly_spaced_without_bursts() -> None:
    pacer = RequestPacer(requests_per_second=200)
    loop = asyncio.get_running_loop()
    times = []
    for _ in range(60):
        await pacer.wait_turn()
        times.append(loop.time())
    # No 50 ms window may hold more than 50 ms x 200/s + 2 = 12 requests.
    most_in_window = max(sum(1 for t in times if s <= t < s + 0.05) for s in times)
    assert most_in_window <= 12


async def test_a_pause_holds_every_request() -> None:
    pacer = RequestPacer(requests_per_second=1000)
    loop = asyncio.get_running_loop()
    pacer.pause(0.3)
    started = loop.time()
    await asyncio.gather(pacer.wait_turn(), pacer.wait_turn())
    assert loop.time() - started >= 0.3


def most_in_any_window(times: list[float], window: float) -> int:
    """Bybit's rule, counted the slow obvious way: the most sends in any [t, t + window)."""
    return max(sum(1 for u in times if t <= u < t + window) for t in times)


async def test_a_starved_event_loop_sends_no_catch_up_burst() -> None:
    """Eight requesters share a pacer at 47.5/s while the loop is blocked for 0.3 s at a time
    (a starved process): once it runs again, no window holds more than the limit allows."""
    rate, window = 47.5, 1.0
    pacer = RequestPacer(requests_per_second=rate)
    loop = asyncio.get_running_loop()
    sent: list[float] = []
    stop = asyncio.Event()

    async def requester() -> None:
        while not stop.is_set():
            await pacer.wait_turn()
            sent.append(loop.time())
            if len(sent) >= 150:
                stop.set()
            await asyncio.sleep(0)

    async def starve() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.2)
            # The whole loop stops, as when the machine gives the process no CPU.
            time.sleep(0.3)  # noqa: ASYNC251

    tasks = [asyncio.create_task(requester()) for _ in range(8)]
    tasks.append(asyncio.create_task(starve()))
    await asyncio.gather(*tasks)
    # Any window of W seconds: at most W x rate + 2 (the burst), whatever the starving.
    assert most_in_any_window(sent, window) <= int(window * rate) + 2
    assert most_in_any_window(sent, 0.1) <= int(0.1 * rate) + 2
