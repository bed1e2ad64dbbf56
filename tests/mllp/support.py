"""Test helpers for the MLLP adapter: a plain socket client, a reply reader and the generic IHE checks.

The client deliberately does not reuse ``api.mllp`` code, so a framing bug can't hide on both sides.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from empi.commands import RecordKey
from empi.models import SourceRecord
from empi.records import get_record
from empi.runtime import Runtime

SB, EB = b"\x0b", b"\x1c\x0d"


def normalise(raw: bytes) -> bytes:
    """README §0.2: \\r\\n and \\n become \\r; a trailing separator is dropped."""
    return raw.replace(b"\r\n", b"\r").replace(b"\n", b"\r").rstrip(b"\r")


class Client:
    """Minimal MLLP client: one connection, send a message, read exactly one framed reply."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, message: bytes | str) -> bytes:
        if isinstance(message, str):
            message = message.encode()
        self.sock.sendall(SB + message + EB)
        return self.read_frame()

    def read_frame(self) -> bytes:
        while EB not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection before replying")
            self.buf += chunk
        frame, _, self.buf = self.buf.partition(EB)
        assert frame.startswith(SB), f"reply does not start with 0x0B: {frame[:20]!r}"
        return frame[1:]

    def assert_nothing_more(self, wait: float = 0.2) -> None:
        """G1: exactly one reply per request, so nothing else is pending."""
        assert self.buf == b""
        self.sock.settimeout(wait)
        try:
            extra = self.sock.recv(1)
        except TimeoutError:
            extra = None
        finally:
            self.sock.settimeout(30)
        assert extra is None, "an unexpected extra reply (or a close) arrived"

    def is_closed(self, wait: float = 5.0) -> bool:
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(1) == b""
        except TimeoutError:
            return False
        except ConnectionError:
            return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Hl7:
    """A parsed reply: raw segments split on the standard separators (no unescaping)."""

    raw: str
    segments: list[list[str]] = field(default_factory=list)

    @classmethod
    def of(cls, data: bytes | str) -> Hl7:
        text = data.decode() if isinstance(data, bytes) else data
        segs = []
        for s in text.replace("\n", "\r").split("\r"):
            if not s:
                continue
            f = s.split("|")
            if f[0] == "MSH":
                f.insert(1, "|")
            segs.append(f)
        return cls(text, segs)

    @property
    def names(self) -> list[str]:
        return [s[0] for s in self.segments]

    def all(self, name: str) -> list[list[str]]:
        return [s for s in self.segments if s[0] == name]

    def seg(self, name: str) -> list[str] | None:
        found = self.all(name)
        return found[0] if found else None

    def get(self, name: str, n: int) -> str:
        s = self.seg(name)
        return s[n] if s is not None and n < len(s) else ""

    def segment_text(self, name: str) -> str | None:
        return next((s for s in self.raw.split("\r") if s[:3] == name), None)

    @property
    def msa1(self) -> str:
        return self.get("MSA", 1)

    @property
    def qak2(self) -> str:
        return self.get("QAK", 2)

    def errors(self) -> list[tuple[str, str, str]]:
        """(ERR-2, ERR-3.1 or ERR-1.4.1, ERR-4) of every ERR segment."""
        out = []
        for s in self.all("ERR"):
            err1 = s[1] if len(s) > 1 else ""
            err2 = s[2] if len(s) > 2 else ""
            err3 = s[3] if len(s) > 3 else ""
            code = err3.split("^")[0] or (err1.split("^")[3].split("&")[0] if err1.count("^") >= 3 else "")
            out.append((err2, code, s[4] if len(s) > 4 else ""))
        return out

    def pid3(self) -> list[str]:
        """PID-3 repetitions as 'ID@NAMESPACE' (checking the CX-4 is fully qualified is G6's job)."""
        value = self.get("PID", 3)
        return [f"{r.split('^')[0]}@{r.split('^')[3].split('&')[0]}" for r in value.split("~") if r]


def read_file(directory: Path, name: str) -> bytes:
    return normalise((directory / name).read_bytes())


def request_fields(message: bytes) -> Hl7:
    return Hl7.of(normalise(message))


class Checker:
    """G1-G12 checks applied to every reply of a scenario."""

    def __init__(self, domains: dict[str, tuple[str, str]], manager: tuple[str, str] = ("EMPI", "EMPI")) -> None:
        self.domains = {k.upper(): v for k, v in domains.items()}
        self.manager = manager
        self.control_ids: set[str] = set()

    def check(self, request: bytes, reply_bytes: bytes) -> Hl7:
        req, rep = request_fields(request), Hl7.of(reply_bytes)
        msh = rep.seg("MSH")
        assert msh is not None and rep.names[0] == "MSH", "G2: reply starts with MSH"
        assert msh[1] == "|" and msh[2] == "^~\\&", "G2: standard encoding characters"
        assert rep.get("MSH", 7), "G2: MSH-7 present"
        cid = rep.get("MSH", 10)
        assert cid and cid not in self.control_ids, "G2: MSH-10 present and unique"
        self.control_ids.add(cid)
        assert rep.get("MSA", 2) == req.get("MSH", 10), "G3: MSA-2 echoes MSH-10 verbatim"
        req_type = req.get("MSH", 9).split("^")
        if req_type[0] == "ADT":
            self._ack(req, rep, req_type)
        elif req_type[0] == "QBP" and req_type[1:2] == ["Q23"]:
            self._rsp_k23(req, rep)
        if rep.msa1 in ("AE", "AR"):
            self._errors(req, rep)
        return rep

    def _ack(self, req: Hl7, rep: Hl7, req_type: list[str]) -> None:
        t = rep.get("MSH", 9).split("^")
        assert t[0] == "ACK", "G4: MSH-9.1 ACK"
        assert t[1] == req_type[1], "G4: MSH-9.2 echoes the trigger"
        assert len(t) < 3 or t[2] == "ACK", "G4: MSH-9.3 ACK"
        assert rep.get("MSH", 12) == req.get("MSH", 12), "G4: MSH-12 echoes the version"
        assert (rep.get("MSH", 3), rep.get("MSH", 4)) == self.manager, "G4: MSH-3/4 identify the manager"
        assert rep.get("MSH", 5) == req.get("MSH", 3).split("^")[0], "G4: MSH-5 = request MSH-3.1"
        assert rep.get("MSH", 6) == req.get("MSH", 4).split("^")[0], "G4: MSH-6 = request MSH-4.1"
        assert rep.names[:2] == ["MSH", "MSA"] and set(rep.names[2:]) <= {"ERR"}, "ACK = MSH MSA [ERR]"

    def _rsp_k23(self, req: Hl7, rep: Hl7) -> None:
        assert rep.get("MSH", 9) == "RSP^K23^RSP_K23", "G5: RSP^K23^RSP_K23"
        assert rep.get("MSH", 12) == "2.5", "G5: MSH-12 2.5"
        names = rep.names
        expected = ["MSH", "MSA"] + ["ERR"] * names.count("ERR") + ["QAK", "QPD"] + ["PID"] * names.count("PID")
        assert names == expected, f"G5: segment order {names}"
        assert rep.get("QAK", 1) == req.get("QPD", 2), "G5: QAK-1 = QPD-2"
        assert rep.qak2 in {"OK", "NF", "AE", "AR"}, "G5: QAK-2"
        assert rep.segment_text("QPD") == req.segment_text("QPD"), "G5/G10: QPD echoed byte for byte"
        pids = rep.all("PID")
        assert len(pids) <= 1, "G6: at most one PID"
        if pids:
            self._pid(req, pids[0])

    def _pid(self, req: Hl7, pid: list[str]) -> None:
        assert pid[5] == "~^^^^^^S", "G6: PID-5 = ~^^^^^^S"
        assert all(not v for i, v in enumerate(pid) if i not in (0, 3, 5)), "G6: only PID-3 and PID-5"
        queried = req.get("QPD", 3).split("^")
        seen_domains: list[str] = []
        for rep_ in pid[3].split("~"):
            comps = rep_.split("^")
            ns, uid, typ = (comps[3].split("&") + ["", "", ""])[:3]
            assert ns and uid and typ == "ISO", "G6: CX-4 fully qualified"
            assert self.domains.get(ns.upper()) == (uid, typ), "G6: CX-4 names a configured domain"
            qns = queried[3].split("&") if len(queried) > 3 else [""]
            assert not (comps[0] == queried[0] and (ns == qns[0] or uid in queried[3])), "G6: queried ID excluded"
            if seen_domains and seen_domains[-1] != ns:
                assert ns not in seen_domains, "G6: same-domain IDs are consecutive"
            seen_domains.append(ns)

    def _errors(self, req: Hl7, rep: Hl7) -> None:
        errors = rep.errors()
        assert errors, "G8: AE/AR carries at least one ERR"
        for erl, code, severity in errors:
            assert code.isdigit(), "G8: ERR-3.1 (or ERR-1) holds the 0357 code"
            assert severity == "E", "G8: ERR-4 = E"
            if erl:
                parts = erl.split("^")
                assert len(parts[0]) == 3 and all(p.isdigit() for p in parts[1:] if p), "G8: ERL shape"
        if req.get("MSH", 12).startswith("2.3"):
            assert all(s[1] for s in rep.all("ERR")), "2.3.1 ACK: ERR-1 (ELD) is filled too"


def stored(rt: Runtime, identifier: str, domain: str) -> SourceRecord | None:
    with rt.read() as session:
        return get_record(session, RecordKey(identifier=identifier, domain=domain))


def count_records(rt: Runtime) -> int:
    from sqlalchemy import func, select

    with rt.read() as session:
        return int(session.scalar(select(func.count()).select_from(SourceRecord)) or 0)
