"""The listener over a real socket on 127.0.0.1: framing, robustness, concurrency, an external client."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import hl7
import pytest
from hl7.client import MLLPClient

from api.mllp.server import MllpServer, ServerHandle
from empi.runtime import Runtime
from tests.mllp.messages import NIST, NIST2, adt, q23
from tests.mllp.support import Client, Hl7, count_records, stored

Listen = Callable[..., tuple[Runtime, ServerHandle]]


class TestConnection:
    def test_many_messages_on_one_connection(self, listener: tuple[Runtime, ServerHandle]) -> None:
        rt, handle = listener
        with Client(handle.port) as c:
            for i in range(25):
                r = Hl7.of(c.send(adt(control_id=f"M{i}", pid3=f"P-{i}^^^{NIST}", name=f"TESTER{i}^TINA")))
                assert (r.msa1, r.get("MSA", 2)) == ("AA", f"M{i}")
            c.assert_nothing_more()
        assert count_records(rt) == 25

    def test_pipelined_messages_answered_in_order(self, listener: tuple[Runtime, ServerHandle]) -> None:
        _, handle = listener
        with Client(handle.port) as c:
            c.send_raw(b"".join(b"\x0b" + adt(control_id=f"P{i}", pid3=f"P-{i}^^^{NIST}").encode() + b"\x1c\x0d"
                                for i in range(10)))
            assert [Hl7.of(c.read_frame()).get("MSA", 2) for _ in range(10)] == [f"P{i}" for i in range(10)]

    def test_concurrent_connections(self, listener: tuple[Runtime, ServerHandle]) -> None:
        rt, handle = listener

        def feed(n: int) -> list[str]:
            with Client(handle.port) as c:
                return [Hl7.of(c.send(adt(control_id=f"C{n}-{i}", pid3=f"C{n}-{i}^^^{NIST2}",
                                          name=f"PERSON{n}X{i}^TEST", dob=f"19{50 + n}0{i + 1}01"))).msa1
                        for i in range(5)]

        with ThreadPoolExecutor(10) as pool:
            outcomes = [o for chunk in pool.map(feed, range(10)) for o in chunk]
        assert outcomes == ["AA"] * 50
        assert count_records(rt) == 50

    def test_python_hl7_mllp_client(self, listener: tuple[Runtime, ServerHandle]) -> None:
        """A real external client: python-hl7's MLLPClient (the library behind ``mllp_send``)."""
        rt, handle = listener
        with MLLPClient("127.0.0.1", handle.port) as client:
            reply = client.send_message(adt(control_id="EXT1"))
            parsed = hl7.parse(reply.decode())
            assert str(parsed.segment("MSA")[1]) == "AA"
            assert str(parsed.segment("MSA")[2]) == "EXT1"
            reply = client.send_message(hl7.parse(q23(f"T-1^^^{NIST}", control_id="EXT2")))
            parsed = hl7.parse(reply.decode())
            assert str(parsed.segment("MSA")[1]) == "AA"
            assert str(parsed.segment("QAK")[2]) == "NF"
        assert stored(rt, "T-1", "NIST2010") is not None


class TestRobustness:
    def test_garbage_before_frame_is_skipped(self, listener: tuple[Runtime, ServerHandle]) -> None:
        _, handle = listener
        with Client(handle.port) as c:
            c.send_raw(b"\r\n\x00noise")
            r = Hl7.of(c.send(adt(control_id="G1")))
            assert (r.msa1, r.get("MSA", 2)) == ("AA", "G1")
            c.assert_nothing_more()

    def test_unframed_message_gets_ar_and_connection_survives(self, listener: tuple[Runtime, ServerHandle]) -> None:
        _, handle = listener
        with Client(handle.port) as c:
            c.send_raw(adt(control_id="NOSB").encode() + b"\x1c\x0d")
            r = Hl7.of(c.read_frame())
            assert (r.msa1, r.get("MSA", 2)) == ("AR", "NOSB")
            assert Hl7.of(c.send(adt(control_id="AFTER"))).msa1 == "AA"

    @pytest.mark.parametrize("payload", [b"", b"hello world", b"\xff\xfe\xfd", b"MSH|", b"PID|||1^^^X"])
    def test_unparsable_hl7_gets_ar(self, listener: tuple[Runtime, ServerHandle], payload: bytes) -> None:
        _, handle = listener
        with Client(handle.port) as c:
            r = Hl7.of(c.send(payload))
            assert r.msa1 == "AR" and r.errors()
            assert Hl7.of(c.send(adt(control_id="OK1"))).msa1 == "AA"

    def test_unknown_type_and_trigger(self, listener: tuple[Runtime, ServerHandle]) -> None:
        _, handle = listener
        with Client(handle.port) as c:
            r = Hl7.of(c.send(adt().replace("ADT^A04^ADT_A01", "ORU^R01^ORU_R01")))
            assert r.msa1 == "AR" and r.errors()[0][:2] == ("MSH^1^9^1^1", "200")
            r = Hl7.of(c.send(adt("A45")))
            assert r.msa1 == "AR" and r.errors()[0][:2] == ("MSH^1^9^1^2", "201")

    def test_oversize_gets_ar_then_close(self, listen: Listen) -> None:
        rt, handle = listen(max_message_bytes=2000)
        with Client(handle.port) as c:
            big = adt(control_id="BIG1", segments="ZXX|" + "x" * 5000)
            c.send_raw(b"\x0b" + big.encode() + b"\x1c\x0d")
            r = Hl7.of(c.read_frame())
            assert (r.msa1, r.get("MSA", 2)) == ("AR", "BIG1")
            assert c.is_closed()
        assert count_records(rt) == 0
        with Client(handle.port) as c:  # the listener still serves others
            assert Hl7.of(c.send(adt())).msa1 == "AA"

    def test_idle_connection_closed(self, listen: Listen) -> None:
        _, handle = listen(idle_timeout=0.5)
        with Client(handle.port) as c:
            assert Hl7.of(c.send(adt())).msa1 == "AA"
            started = time.monotonic()
            assert c.is_closed(wait=5)
            assert time.monotonic() - started < 4

    def test_stalled_frame_closed_after_read_timeout(self, listen: Listen) -> None:
        rt, handle = listen(read_timeout=0.5, idle_timeout=30)
        with Client(handle.port) as c:
            c.send_raw(b"\x0b" + adt().encode()[:40])
            assert c.is_closed(wait=5)
        assert count_records(rt) == 0

    def test_peer_vanishing_mid_frame_and_mid_reply(self, listener: tuple[Runtime, ServerHandle]) -> None:
        _, handle = listener
        for data in (b"\x0bMSH|^~\\&|partial", b"\x0b" + adt(control_id="GONE").encode() + b"\x1c\x0d"):
            s = socket.create_connection(("127.0.0.1", handle.port))
            s.sendall(data)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()  # RST
        time.sleep(0.3)
        with Client(handle.port) as c:
            assert Hl7.of(c.send(adt(control_id="STILL"))).msa1 == "AA"


class TestLifecycle:
    def test_async_start_stop_in_own_loop(self, rt: Runtime) -> None:
        async def main() -> str:
            server = await MllpServer(rt).start()
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(b"\x0b" + adt(control_id="ASYNC").encode() + b"\x1c\x0d")
                await writer.drain()
                data = await reader.readuntil(b"\x1c\x0d")
                writer.close()
                return Hl7.of(data[1:-2]).get("MSA", 2)
            finally:
                await server.stop()

        assert asyncio.run(main()) == "ASYNC"

    def test_stop_closes_open_connections(self, listen: Listen) -> None:
        _, handle = listen()
        c = Client(handle.port)
        assert Hl7.of(c.send(adt())).msa1 == "AA"
        handle.stop()
        assert c.is_closed(wait=5)
        c.close()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", handle.port), timeout=1)


class TestDecodeProcesses:
    def test_commands_survive_pickling_with_unset(self) -> None:
        import pickle

        from api.mllp import hl7v2
        from empi.commands import UNSET
        from tests.conftest import nist_settings

        cmd = hl7v2.register_command(hl7v2.split(adt(dob="", sex='""').encode()), nist_settings().registry)
        again = pickle.loads(pickle.dumps(cmd))
        assert again.demographics.birth_date is UNSET
        assert again.demographics.sex is None
        assert again == cmd

    def test_parsing_in_worker_processes(self, rt: Runtime) -> None:
        from api.mllp.server import serve_in_thread

        handle = serve_in_thread(rt, decode_processes=2)
        try:
            with Client(handle.port) as c:
                assert Hl7.of(c.send(adt(control_id="W1", ssn="123-45-6789"))).msa1 == "AA"
                assert Hl7.of(c.send(adt("A08", control_id="W2", sex='""', ssn=""))).msa1 == "AA"
                r = Hl7.of(c.send(adt(control_id="W3", dob="19801399")))
                assert r.msa1 == "AE" and r.errors()[0][:2] == ("PID^1^7", "102")
                assert Hl7.of(c.send(b"garbage")).msa1 == "AR"
                assert Hl7.of(c.send(adt("A99"))).msa1 == "AR"
                r = Hl7.of(c.send(q23(f"T-1^^^{NIST}", domains="^^^NOPE")))
                assert (r.msa1, r.errors()[0][0]) == ("AE", "QPD^1^4^1")
            record = stored(rt, "T-1", "NIST2010")
            assert record is not None and record.sex is None and record.ssn == "123-45-6789"
        finally:
            handle.stop()
