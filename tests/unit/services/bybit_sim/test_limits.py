"""The IP limiter and ban, the fault dice and the settings parsing, with injected clocks."""

import pytest

from services.bybit_sim.clock import SimClock
from services.bybit_sim.faults import Fault, Faults, FaultSettings
from services.bybit_sim.limits import IpRateLimiter
from services.bybit_sim.settings import SimSettings
from shared.timestamps import parse_epoch_ms


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limit_per_rolling_window_then_ban_then_free_again() -> None:
    t = FakeTime()
    limiter = IpRateLimiter(requests=3, window_seconds=5, ban_seconds=600, monotonic=t)
    verdicts = [limiter.check("1.2.3.4") for _ in range(3)]
    assert [v.allowed for v in verdicts] == [True, True, True]
    assert [v.remaining for v in verdicts] == [2, 1, 0]
    assert verdicts[0].reset_in_seconds == 5
    assert limiter.check("5.6.7.8").allowed  # other IPs have their own window
    breaking = limiter.check("1.2.3.4")
    assert not breaking.allowed and breaking.banned_now
    t.now += 599
    during = limiter.check("1.2.3.4")
    assert not during.allowed and not during.banned_now
    assert during.reset_in_seconds == pytest.approx(1)
    t.now += 1.01
    assert limiter.check("1.2.3.4").allowed
    assert not limiter.is_banned("1.2.3.4")


def test_window_rolls_so_steady_clients_are_never_banned() -> None:
    t = FakeTime()
    limiter = IpRateLimiter(requests=10, window_seconds=5, ban_seconds=600, monotonic=t)
    for _ in range(200):  # 2 per second, the limit being 2 per second
        assert limiter.check("ip").allowed
        t.now += 0.5
    t.now -= 0.5
    for _ in range(9):
        limiter.check("ip")
    assert not limiter.check("ip").allowed


def test_reset_forgets_bans() -> None:
    limiter = IpRateLimiter(requests=1, window_seconds=5, ban_seconds=600, monotonic=FakeTime())
    limiter.check("ip")
    assert not limiter.check("ip").allowed
    limiter.reset()
    assert limiter.check("ip").allowed


def test_faults_are_seeded_and_follow_their_rates() -> None:
    settings = SimSettings(
        seed=3, fault_10006_rate=0.2, fault_502_rate=0.1, fault_disconnect_rate=0.1
    )
    first = [Faults(settings).draw() for _ in range(1)]
    a, b = Faults(settings), Faults(settings)
    draws_a = [a.draw() for _ in range(2000)]
    assert draws_a == [b.draw() for _ in range(2000)]
    assert first[0] == draws_a[0]
    counts = {f: draws_a.count(f) for f in (*Fault, None)}
    assert 300 < counts[Fault.TOO_MANY_VISITS] < 500
    assert 120 < counts[Fault.HTTP_502] < 280
    assert 120 < counts[Fault.DISCONNECT] < 280
    assert Faults(SimSettings()).draw() is None  # all off by default
    a.update(FaultSettings(fault_10006_rate=0, fault_502_rate=0, fault_disconnect_rate=0))
    assert {a.draw() for _ in range(100)} == {None}


def test_sim_clock_runs_from_its_start_at_its_speed() -> None:
    t = FakeTime()
    clock = SimClock(start_ms=1_000_000, speed=60, monotonic=t)
    assert clock.now_ms() == 1_000_000
    t.now += 1.5
    assert clock.now_ms() == 1_000_000 + 90_000


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYBIT_SIM_SYMBOLS", "linear:SOLUSDT, spot:ETHUSDT")
    monkeypatch.setenv("BYBIT_SIM_GAPS", "linear:SOLUSDT:2024-02-01T00:00Z/2024-02-01T01:00Z")
    monkeypatch.setenv("BYBIT_SIM_HISTORY_START", "2023-06-01T00:00:00Z")
    monkeypatch.setenv("BYBIT_SIM_CLOCK_START", "1700000000000")
    monkeypatch.setenv("BYBIT_SIM_FAULT_502_RATE", "0.5")
    settings = SimSettings()
    assert settings.symbols == ("linear:SOLUSDT", "spot:ETHUSDT")
    assert settings.gap_ranges() == [
        (
            "linear",
            "SOLUSDT",
            parse_epoch_ms("2024-02-01T00:00Z"),
            parse_epoch_ms("2024-02-01T01:00Z"),
        )
    ]
    assert settings.history_start == 1_685_577_600_000
    assert settings.clock_start == 1_700_000_000_000
    assert settings.fault_502_rate == 0.5
    with pytest.raises(ValueError):
        SimSettings(symbols="linear:btcusdt")
    with pytest.raises(ValueError):
        SimSettings(gaps="linear:BTCUSDT:2024-02-02T00:00Z/2024-02-01T00:00Z")
