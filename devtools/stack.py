"""Which processes make up the platform on one machine, and their environment."""

from devtools.launcher import ProcessSpec
from shared.settings import Settings

SIM_PORT = 8900


def sim_urls(port: int = SIM_PORT) -> dict[str, str]:
    return {
        "BYBIT_REST_URL": f"http://127.0.0.1:{port}",
        "BYBIT_WS_URL": f"ws://127.0.0.1:{port}/v5/public",
    }


def platform_processes(
    settings: Settings,
    *,
    engines: int,
    offline: bool,
    sim_port: int = SIM_PORT,
    name_prefix: str = "",
) -> list[ProcessSpec]:
    """The simulator first (when offline), then the API, the ingest and the engine workers."""
    env = settings.environment()
    specs = []
    if offline:
        env |= sim_urls(sim_port)
        specs.append(
            ProcessSpec("bybit-sim", "services.bybit_sim", {"BYBIT_SIM_PORT": str(sim_port)})
        )
    specs.append(ProcessSpec("api", "services.api", env))
    specs.append(ProcessSpec("ingest", "services.ingest", env))
    specs += [ProcessSpec(f"engine-{i}", "services.engine", env) for i in range(1, engines + 1)]
    return [ProcessSpec(name_prefix + s.name, s.module, s.env) for s in specs]
