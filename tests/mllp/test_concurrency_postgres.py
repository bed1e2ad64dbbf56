"""Concurrent feeds of one new patient on PostgreSQL end with one person (issue 2, part 10)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from api.mllp.server import ServerHandle
from empi.runtime import Runtime
from tests.mllp.messages import adt, q23
from tests.mllp.support import Client, Hl7

DOMAINS = ["NIST2010", "NIST2010-2", "NIST2010-3", "IHE2010", "HOSPA", "HOSPB"]


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])
def test_same_new_patient_fed_at_once_gives_one_person(listener: tuple[Runtime, ServerHandle]) -> None:
    rt, handle = listener
    assert rt.is_postgres
    for round_ in range(4):
        barrier = threading.Barrier(len(DOMAINS))
        # each round is a different person: nothing in common with the other rounds
        family = ["OKONKWO", "LINDQVIST", "BARRIENTOS", "HAYASHI"][round_]
        given = ["ADAEZE", "TORSTEN", "MARISOL", "KENJI"][round_]

        def feed(i: int, family: str = family, given: str = given, round_: int = round_,
                 barrier: threading.Barrier = barrier) -> str:
            message = adt(control_id=f"R{round_}-{i}", pid3=f"CC{round_}-{i}^^^{DOMAINS[i]}",
                          name=f"{family}^{given}^^^^^L", dob=f"19{60 + 7 * round_}0{round_ + 3}1{round_}",
                          sex="MFMF"[round_], ssn=f"90{round_}-1{round_}-345{round_}",
                          address=f"{round_ + 11} Race {family} Street^^LOCKTON{round_}^ON^K1A0B{round_}",
                          phone=f"^PRN^PH^^^61{round_}^555010{round_}")
            with Client(handle.port) as c:
                barrier.wait(10)
                return Hl7.of(c.send(message)).msa1

        with ThreadPoolExecutor(len(DOMAINS)) as pool:
            assert list(pool.map(feed, range(len(DOMAINS)))) == ["AA"] * len(DOMAINS)
        # one person: querying any one record returns every other record of the round
        with Client(handle.port) as c:
            for i, domain in enumerate(DOMAINS):
                r = Hl7.of(c.send(q23(f"CC{round_}-{i}^^^{domain}", control_id=f"Q{round_}-{i}")))
                assert r.qak2 == "OK", r.raw
                expected = {f"CC{round_}-{j}@{d}" for j, d in enumerate(DOMAINS) if j != i}
                assert set(r.pid3()) == expected
