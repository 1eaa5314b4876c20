"""A TCP forwarder a test can cut or stall and then restore, to take a server away from a client.

- cut: stop listening and reset every connection (a server that is down: connections refused);
- stall: keep every connection open but forward nothing (a server that stops answering, or a
  network that drops packets) until `resume`, which delivers what was held back;
- stall_on: the same for each connection whose client sends a given byte string (a statement's
  text, e.g. `COMMIT;`), from that string on: the server stalls at one exact point.
"""

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._trigger: bytes | None = None
        self._connection_flows: set[asyncio.Event] = set()
        self.port = 0

    @classmethod
    async def to(cls, url: str) -> "TcpProxy":
        """A started proxy to the server of `url` (postgresql://... or amqp://...)."""
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None, url
        proxy = cls(parts.hostname, parts.port)
        await proxy.start()
        return proxy

    def url(self, url: str) -> str:
        """`url` with its host and port replaced by this proxy's."""
        parts = urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    async def start(self) -> None:
        """Listen (on the same port as before, if it listened already) and forward."""
        self._flowing.set()
        if self._server is None:
            self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)
            self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Stop listening and drop every connection."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    def stall(self) -> None:
        """Keep connections (and accept new ones) but forward no byte until `resume`."""
        self._flowing.clear()

    def stall_on(self, trigger: bytes) -> None:
        """Stall each connection whose client sends `trigger` (held with it) until `resume`."""
        self._trigger = trigger

    def resume(self) -> None:
        self._trigger = None
        self._flowing.set()
        for flow in self._connection_flows:
            flow.set()

    async def close(self) -> None:
        if self._server is not None:
            await self.cut()

    async def _forward(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self._target)
        except OSError:
            client_w.transport.abort()
            return
        self._writers |= {client_w, server_w}
        flow = asyncio.Event()  # this connection's own stall (`stall_on`)
        flow.set()
        self._connection_flows.add(flow)
        try:
            await asyncio.gather(
                self._pipe(client_r, server_w, flow, watch=True),
                self._pipe(server_r, client_w, flow, watch=False),
            )
        finally:
            self._connection_flows.discard(flow)
            for writer in (client_w, server_w):
                self._writers.discard(writer)
                writer.transport.abort()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        flow: asyncio.Event,
        *,
        watch: bool,
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if watch and self._trigger is not None and self._trigger in data:
                    flow.clear()
                await self._flowing.wait()
                await flow.wait()
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
