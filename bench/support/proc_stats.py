"""What the kernel says about processes and the machine: CPU time, resident memory, load."""

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")
# Short names for the commands of the servers the benchmarks watch.
COMMAND_NAMES = {"beam.smp": "rabbitmq"}


def _stat_fields(pid: int | str) -> list[str]:
    """Fields of /proc/PID/stat after the command name (which may hold spaces)."""
    text = (_PROC / str(pid) / "stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = _stat_fields(pid)
    # utime and stime are fields 14 and 15 of stat; the list starts at field 3.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def descendants(pid: int) -> list[int]:
    """Live children of the process, their children, and so on."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(_stat_fields(entry.name)[1])  # ppid is field 4
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of the process and its live descendants (e.g. a process pool's workers)."""
    total = cpu_seconds(pid)
    for child in descendants(pid):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
            total += cpu_seconds(child)
    return total


def _status_kb(pid: int | str, key: str) -> int:
    for line in (_PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def rss_mb(pid: int | str = "self") -> float:
    return _status_kb(pid, "VmRSS") / 1024


def peak_rss_mb(pid: int | str = "self") -> float:
    """The high-water mark of the resident set (VmHWM)."""
    return _status_kb(pid, "VmHWM") / 1024


def command_cpu_seconds(command: str) -> float:
    """CPU time of every live process with this command name (e.g. all PostgreSQL backends).

    Processes that exited meanwhile are not counted, so compare two readings only across
    a span where the interesting ones live throughout.
    """
    total = 0.0
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != command:
                continue
            total += cpu_seconds(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


@dataclass(frozen=True)
class MachineCpu:
    busy: float  # seconds of all cores busy since boot
    total: float

    @classmethod
    def read(cls) -> "MachineCpu":
        values = [int(v) for v in (_PROC / "stat").read_text().splitlines()[0].split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        total = sum(values[:8])  # leave out guest time, already counted in user
        return cls((total - idle) / _CLOCK_TICKS, total / _CLOCK_TICKS)

    def busy_fraction_since(self, earlier: "MachineCpu") -> float:
        """Share of all cores' time that was busy between the two readings."""
        spent = self.total - earlier.total
        return (self.busy - earlier.busy) / spent if spent > 0 else 0.0


@dataclass(frozen=True)
class CpuReading:
    """CPU seconds used so far by the processes that matter, and by the whole machine."""

    by_process: dict[str, float]
    machine: MachineCpu
    at: float

    @classmethod
    def take(
        cls,
        pids: dict[str, int],
        commands: tuple[str, ...] = ("postgres",),
        *,
        with_children: bool = False,
    ) -> "CpuReading":
        """`pids` by name (with their descendants if asked), and all processes of each command
        name (e.g. PostgreSQL's backends)."""
        own = tree_cpu_seconds if with_children else cpu_seconds
        used = {name: own(pid) for name, pid in pids.items()}
        used |= {COMMAND_NAMES.get(c, c): command_cpu_seconds(c) for c in commands}
        return cls(used, MachineCpu.read(), time.monotonic())

    def share_since(self, earlier: "CpuReading") -> dict[str, float]:
        """Cores used on average by each process, and the machine's busy share of all cores."""
        wall = self.at - earlier.at
        if wall <= 0:
            return {}
        shares = {
            name: (used - earlier.by_process.get(name, 0.0)) / wall
            for name, used in self.by_process.items()
        }
        shares["machine_busy"] = self.machine.busy_fraction_since(earlier.machine)
        return shares
