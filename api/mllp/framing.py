"""MLLP framing (ITI TF-2 C.2.1): bytes in, frames out. Knows nothing about HL7.

A frame is ``0x0B`` + payload + ``0x1C 0x0D``. :class:`FrameDecoder` is sans-I/O: the server feeds it
whatever the socket returned and acts on the events. It resynchronises on garbage (bytes outside a
frame are dropped up to the next start block), restarts on a start block inside an unfinished frame,
and reports a frame that grows past ``max_size`` instead of buffering it.
"""

from __future__ import annotations

from dataclasses import dataclass

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
_SB = 0x0B


@dataclass(frozen=True, slots=True)
class Frame:
    """A complete payload, envelope stripped."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Unframed:
    """Bytes ended by ``0x1C 0x0D`` without a start block: answered with AR, not silently dropped."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Discarded:
    """Garbage dropped while resynchronising (count only; the bytes may hold PHI)."""

    size: int


@dataclass(frozen=True, slots=True)
class Oversize:
    """The frame passed the size limit. ``head`` is its first bytes, to find MSH-10 for the reply."""

    head: bytes


Event = Frame | Unframed | Discarded | Oversize


def wrap(payload: bytes) -> bytes:
    """Put ``payload`` in an MLLP envelope."""
    return START_BLOCK + payload + END_BLOCK


class FrameDecoder:
    """Incremental MLLP decoder. After :class:`Oversize` it discards everything (close the connection)."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buf = bytearray()
        self._in_frame = False
        self._scan = 0  # where to resume searching for the end block
        self._failed = False

    @property
    def in_frame(self) -> bool:
        """True while a frame has started but not ended (the read timeout applies, not the idle one)."""
        return self._in_frame or bool(self._buf)

    def feed(self, data: bytes) -> list[Event]:
        if self._failed:
            return []
        self._buf += data
        events: list[Event] = []
        while self._buf and not self._failed:
            progressed = self._step_in_frame(events) if self._in_frame else self._step_outside(events)
            if not progressed:
                break
        return events

    def _step_outside(self, events: list[Event]) -> bool:
        start = self._buf.find(START_BLOCK)
        junk_end = start if start >= 0 else len(self._buf)
        end = self._buf.find(END_BLOCK, 0, junk_end)
        if end >= 0:  # a message sent without its start block: hand it up to be rejected
            events.append(Unframed(bytes(self._buf[:end]).strip(b"\r\n")))
            del self._buf[: end + 2]
            return True
        if start < 0:
            if len(self._buf) > self.max_size:
                return self._oversize(events)
            return False  # maybe an unframed message still arriving; wait
        if start:
            events.append(Discarded(start))
        del self._buf[: start + 1]
        self._in_frame, self._scan = True, 0
        return True

    def _step_in_frame(self, events: list[Event]) -> bool:
        end = self._buf.find(END_BLOCK, self._scan)
        restart = self._buf.find(START_BLOCK, self._scan, end if end >= 0 else len(self._buf))
        if restart >= 0:  # a new start block before this frame ended: the partial frame is garbage
            events.append(Discarded(restart + 1))
            del self._buf[: restart + 1]
            self._scan = 0
            return True
        if end < 0:
            if len(self._buf) > self.max_size:
                return self._oversize(events)
            self._scan = max(0, len(self._buf) - 1)
            return False
        if end > self.max_size:
            return self._oversize(events)
        events.append(Frame(bytes(self._buf[:end])))
        del self._buf[: end + 2]
        self._in_frame, self._scan = False, 0
        return True

    def _oversize(self, events: list[Event]) -> bool:
        events.append(Oversize(bytes(self._buf[:4096])))
        self._buf.clear()
        self._failed = True
        return False
