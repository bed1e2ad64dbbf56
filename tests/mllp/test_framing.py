"""FrameDecoder: envelopes, chunking, resynchronisation, size limit (no sockets)."""

from __future__ import annotations

from api.mllp.framing import Discarded, Frame, FrameDecoder, Oversize, Unframed, wrap


class TestFrameDecoder:
    def test_one_frame_when_whole(self) -> None:
        assert FrameDecoder(100).feed(wrap(b"MSH|x")) == [Frame(b"MSH|x")]

    def test_frames_when_split_byte_by_byte(self) -> None:
        d = FrameDecoder(100)
        events = []
        for b in wrap(b"MSH|a") + wrap(b"MSH|b"):
            events += d.feed(bytes([b]))
        assert events == [Frame(b"MSH|a"), Frame(b"MSH|b")]
        assert not d.in_frame

    def test_in_frame_while_incomplete(self) -> None:
        d = FrameDecoder(100)
        assert d.feed(b"\x0bMSH|") == []
        assert d.in_frame
        assert d.feed(b"\x1c") == []
        assert d.feed(b"\x0d") == [Frame(b"MSH|")]

    def test_garbage_before_start_block_is_discarded(self) -> None:
        assert FrameDecoder(100).feed(b"junk" + wrap(b"MSH|1")) == [Discarded(4), Frame(b"MSH|1")]

    def test_restart_when_start_block_inside_frame(self) -> None:
        assert FrameDecoder(100).feed(b"\x0bMSH|partial" + wrap(b"MSH|2")) == [Discarded(12), Frame(b"MSH|2")]

    def test_unframed_message_is_reported_when_end_block_without_start(self) -> None:
        assert FrameDecoder(100).feed(b"MSH|3\x1c\x0d" + wrap(b"MSH|4")) == [Unframed(b"MSH|3"), Frame(b"MSH|4")]

    def test_fs_without_cr_is_content(self) -> None:
        assert FrameDecoder(100).feed(wrap(b"A\x1cB")) == [Frame(b"A\x1cB")]

    def test_oversize_when_frame_exceeds_limit(self) -> None:
        d = FrameDecoder(10)
        events = d.feed(b"\x0bMSH|^~\\&|0123456789")
        assert len(events) == 1 and isinstance(events[0], Oversize)
        assert events[0].head.startswith(b"MSH|")
        assert d.feed(wrap(b"MSH|ok")) == []  # the connection is finished

    def test_oversize_when_complete_frame_too_big(self) -> None:
        events = FrameDecoder(4).feed(wrap(b"MSH|too big"))
        assert isinstance(events[0], Oversize)

    def test_exact_limit_is_accepted(self) -> None:
        assert FrameDecoder(5).feed(wrap(b"12345")) == [Frame(b"12345")]

    def test_large_frame_in_chunks_is_linear(self) -> None:
        d = FrameDecoder(2_000_000)
        payload = b"x" * 1_000_000
        data = wrap(payload)
        events = []
        for i in range(0, len(data), 1000):
            events += d.feed(data[i:i + 1000])
        assert events == [Frame(payload)]
