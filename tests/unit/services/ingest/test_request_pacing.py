import asyncio

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
