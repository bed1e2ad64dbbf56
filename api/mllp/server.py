"""The MLLP listener: asyncio sockets in front of :func:`api.mllp.handlers.process`.

Each connection serves many messages in order (ITI TF-2 C.2.1), with exactly one framed reply per
request. The handler runs in a thread pool of ``settings.mllp_workers`` threads because the domain
core is synchronous SQLAlchemy. A connection is closed when idle for ``settings.idle_timeout``, when a
started frame stalls for ``settings.read_timeout``, or after a frame larger than
``settings.max_message_bytes`` (answered with AR first). Garbage between frames is dropped and logged.

Two ways to run it:

* ``await MllpServer(rt).start()`` / ``await server.stop()`` inside an event loop you own;
* ``handle = serve_in_thread(rt)``: its own loop in a daemon thread; ``handle.port``, ``handle.stop()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Self

from api.mllp import framing, handlers
from api.mllp.acks import INTERNAL_ERROR
from api.mllp.framing import Discarded, Frame, FrameDecoder, Oversize, Unframed
from empi.config import DomainRegistry, Settings
from empi.runtime import Runtime

log = logging.getLogger("api.mllp")

READ_CHUNK = 65536


class MllpServer:
    def __init__(self, rt: Runtime, host: str = "127.0.0.1", port: int = 0, *,
                 handler_table: Mapping[tuple[str, str], handlers.Handler] | None = None,
                 process: Callable[[Runtime, bytes], bytes] | None = None,
                 decode_processes: int = 0) -> None:
        """``decode_processes`` > 0 parses HL7 in that many forked worker processes (HL7 parsing is
        CPU-bound and holds the GIL; the database stage stays in this process's thread pool)."""
        self.rt = rt
        self.decode_processes = decode_processes if handler_table is None and process is None else 0
        self._decoders: ProcessPoolExecutor | None = None
        self.host = host
        self._requested_port = port
        self._table = handler_table
        self._process = process
        self._server: asyncio.Server | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the server is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> Self:
        workers = max(1, self.rt.settings.mllp_workers)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mllp")
        if self.decode_processes:
            self._decoders = ProcessPoolExecutor(self.decode_processes, mp_context=multiprocessing.get_context("fork"),
                                                 initializer=_init_decoder, initargs=(self.rt.settings,))
        self._server = await asyncio.start_server(self._serve, self.host, self._requested_port,
                                                  limit=READ_CHUNK, backlog=256)
        log.info("mllp listening on %s:%s (%d workers)", self.host, self.port, workers)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._decoders is not None:
            self._decoders.shutdown(wait=True, cancel_futures=True)
            self._decoders = None

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        peer = writer.get_extra_info("peername")
        try:
            await self._connection(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            log.info("mllp connection from %s reset", peer)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 - never let a connection bug take the listener down
            log.error("mllp connection from %s failed: %s", peer, type(exc).__name__)
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        settings = self.rt.settings
        decoder = FrameDecoder(settings.max_message_bytes)
        while True:
            timeout = settings.read_timeout if decoder.in_frame else settings.idle_timeout
            try:
                data = await asyncio.wait_for(reader.read(READ_CHUNK), timeout)
            except TimeoutError:
                log.info("mllp closing connection: %s timeout", "read" if decoder.in_frame else "idle")
                return
            if not data:
                if decoder.in_frame:
                    log.warning("mllp peer closed inside a frame; partial message dropped")
                return
            for event in decoder.feed(data):
                if isinstance(event, Frame):
                    reply = await self._handle(event.payload)
                elif isinstance(event, Unframed):
                    log.warning("mllp message without start block; answering AR")
                    reply = handlers.reject(self.rt, head=event.payload).encode()
                elif isinstance(event, Discarded):
                    log.warning("mllp discarded %d bytes outside a frame", event.size)
                    continue
                else:
                    assert isinstance(event, Oversize)
                    log.warning("mllp message larger than %d bytes; answering AR and closing",
                                settings.max_message_bytes)
                    writer.write(framing.wrap(handlers.reject(self.rt, INTERNAL_ERROR, head=event.head).encode()))
                    await writer.drain()
                    return
                writer.write(framing.wrap(reply))
                await writer.drain()

    async def _handle(self, payload: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        if self._process is not None:
            return await loop.run_in_executor(self._pool, self._process, self.rt, payload)
        if self._decoders is not None:
            try:
                decoded = await loop.run_in_executor(self._decoders, _decode, payload)
            except Exception as exc:  # noqa: BLE001 - a broken worker pool: decode here instead
                log.error("mllp decode worker failed: %s", type(exc).__name__)
                decoded = handlers.decode(self.rt, payload)
            return await loop.run_in_executor(self._pool, handlers.execute, self.rt, decoded)
        return await loop.run_in_executor(self._pool, handlers.process, self.rt, payload, self._table)


@dataclass(frozen=True, slots=True)
class _DecoderContext:
    settings: Settings
    registry: DomainRegistry


_decoder: _DecoderContext | None = None


def _init_decoder(settings: Settings) -> None:
    global _decoder
    _decoder = _DecoderContext(settings, settings.registry)


def _decode(payload: bytes) -> handlers.Decoded:
    assert _decoder is not None
    return handlers.decode(_decoder, payload)


class ServerHandle:
    """An :class:`MllpServer` running on its own event loop in a daemon thread."""

    def __init__(self, server: MllpServer, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self.server = server
        self.loop = loop
        self.thread = thread
        self.port = server.port
        self.host = server.host

    def stop(self, timeout: float = 10.0) -> None:
        if not self.thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop)
        with contextlib.suppress(Exception):
            future.result(timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_in_thread(rt: Runtime, host: str = "127.0.0.1", port: int = 0, **kwargs: object) -> ServerHandle:
    """Start a listener in a background thread and return once it accepts connections."""
    loop = asyncio.new_event_loop()
    server = MllpServer(rt, host, port, **kwargs)  # type: ignore[arg-type]
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:  # noqa: BLE001
            failure.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=run, name=f"mllp-{port}", daemon=True)
    thread.start()
    ready.wait(30)
    if failure:
        raise failure[0]
    return ServerHandle(server, loop, thread)
