"""Several connections feeding the same new patient at the same moment end with one person."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from empi import patients
from empi.models import Link
from empi.runtime import Runtime
from tests.core.factories import feed, person


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_concurrent_feeds_of_one_new_patient_make_one_person(rt: Runtime) -> None:
    domains = ["HOSPA", "HOSPB", "NIST2010", "NIST2010-2", "NIST2010-3", "IHE2010"]
    for round_no in range(3):
        given, family, born, street, postal = [("Zofia", "Nowak", "1944-02-11", "3 Pine Cres", "K7M 1B2"),
                                               ("Kwame", "Mensah", "1990-07-30", "81 Cedar Dr", "K7P 2C3"),
                                               ("Ingrid", "Halvorsen", "2003-12-01", "5 Birch Way", "K7N 3D4")][round_no]
        p = person(given_name=given, family_name=family, birth_date=born, address_line=street, postal_code=postal,
                   sex="M" if round_no == 1 else "F", phone=f"613-555-02{round_no:02d}")
        barrier = threading.Barrier(len(domains))
        errors: list[BaseException] = []

        def worker(domain: str, p: dict = p) -> None:
            try:
                barrier.wait()
                with rt.write() as s:
                    patients.register(s, feed(f"C{round_no}-{domain}", domain, p), rt=rt)
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(d,)) for d in domains]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
    with rt.read() as s:
        persons = s.scalars(select(func.count(func.distinct(Link.person_id)))).one()
    assert persons == 3


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_concurrent_feeds_of_the_same_identifier_make_one_record(rt: Runtime) -> None:
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            with rt.write() as s:
                patients.register(s, feed("SAME-1", "HOSPA", person()), rt=rt)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with rt.read() as s:
        assert s.scalar(select(func.count()).select_from(Link)) == 1
