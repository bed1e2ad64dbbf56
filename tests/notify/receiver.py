"""A real MLLP receiver for ITI-10 tests: python-hl7's asyncio server, run in a thread on 127.0.0.1:0.

It records every message it receives and answers with ``ack_code`` (AA by default); ``mode="close"``
drops the connection without answering.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import hl7
import hl7.mllp


@dataclass
class Receiver:
    ack_code: str = "AA"
    mode: str = "ack"  # ack | close
    messages: list[str] = field(default_factory=list)
    port: int = 0
    ssl: Any = None  # an ssl.SSLContext for a TLS listener

    def __post_init__(self) -> None:
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _client(self, reader: hl7.mllp.HL7StreamReader, writer: hl7.mllp.HL7StreamWriter) -> None:
        try:
            while not writer.is_closing():
                message = await reader.readmessage()
                self.messages.append(str(message))
                if self.mode == "close":
                    break
                writer.writemessage(message.create_ack(self.ack_code, application="CONSUMER", facility="TEST"))
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._server = await hl7.mllp.start_hl7_server(self._client, "127.0.0.1", 0, ssl=self.ssl)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(main())
        self._loop.run_forever()

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        async def shutdown() -> None:
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def fields(message: str, segment: str) -> list[str]:
    """The fields of the first ``segment`` (index 0 is the segment name; MSH is shifted so MSH-n is [n])."""
    for seg in message.replace("\n", "\r").split("\r"):
        if seg.startswith(segment + "|"):
            parts = seg.split("|")
            return ["MSH", "|", *parts[1:]] if segment == "MSH" else parts
    raise AssertionError(f"no {segment} segment")
