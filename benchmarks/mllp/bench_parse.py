"""How fast is hl7apy on the ITI-8/ITI-9 hot path? Prints microseconds per message (best of 3 passes).

    .venv/bin/python benchmarks/mllp/bench_parse.py [--n 300]

Compares hl7apy's ``parse_message`` (default validation, group detection), ``parse_message`` with
``find_groups=False`` and ``VALIDATION_LEVEL.TOLERANT``, ``parse_field`` on each mapped field of the message,
and what ``api.mllp.hl7v2`` does: split the envelope, then parse only the mapped fields, each through hl7apy's
parse of its shape (cached) with the message's own values put in place, and hl7apy's parse of each NM/date leaf.
Messages marked "new" are all different (a feed's names, dates, phones and identifiers); "not seen yet" clears
every cache first.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from api.mllp import hl7v2
from benchmarks.mllp.bench_pix import adt as bench_adt
from benchmarks.mllp.bench_pix import build_records
from empi.config import parse_settings

ADT = ("MSH|^~\\&|NIST_SENDER^^|NIST^^|NIST_RECEIVER^^|NIST^^|20101101161134||ADT^A04^ADT_A01|NIST-1|P|2.3.1\r"
       "EVN||20101020\r"
       "PID|||PIX10501^^^NIST2010&2.16.840.1.113883.3.72.5.9.1&ISO||ALPHA^ALAN^^^^^L|HOUSE^^^^^^L|19690908|M|||"
       "338 Apple Lane^^LITTLETON^IL^61452||^PRN^PH^^^309^2576057||||||357-56-4113||||||||||||||||||||\r"
       "PV1||O||||||||||||||||||||||||||||||||||||||||||||||||||")
QBP = ("MSH|^~\\&|NIST_SENDER^^|NIST^^|NIST_RECEIVER^^|NIST^^|20101101161157||QBP^Q23^QBP_Q21|NIST-2|P|2.5\r"
       "QPD|IHE PIX Query|QRY1|PIX10501^^^NIST2010&2.16.840.1.113883.3.72.5.9.1&ISO|"
       "^^^NIST2010-2&2.16.840.1.113883.3.72.5.9.2&ISO\rRCP|I")


def per_message(fn: Callable[[], object], n: int) -> float:
    fn()
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    registry = parse_settings({"domains": [
        {"namespace": "NIST2010", "universal_id": "2.16.840.1.113883.3.72.5.9.1", "sources": ["NIST_SENDER|NIST"]},
        {"namespace": "NIST2010-2", "universal_id": "2.16.840.1.113883.3.72.5.9.2"}]}).registry
    adt_bytes, qbp_bytes = ADT.encode(), QBP.encode()
    # every timed message is new: unique names, dates, addresses, phones and identifiers, as a feed sends them
    records = build_records(8 * args.n + 2000, 1, 20)
    fresh = iter([bench_adt(f"V{i}", ident, "NIST2010", p) for i, (ident, _, p) in enumerate(records)])
    fresh_q = iter([QBP.replace("PIX10501", ident).encode() for ident, _, _ in records])
    for _ in range(1000):  # shapes and typed leaves already seen, as by a running listener
        hl7v2.register_command(hl7v2.split(next(fresh)), registry)
        hl7v2.pix_query(hl7v2.split(next(fresh_q)), registry)

    def every_field_through_hl7apy(payload: bytes) -> object:
        """The previous hot path: each field repetition parsed by hl7apy into an element tree."""
        saved = hl7v2._parse_components
        hl7v2._parse_components = hl7v2._full_components.__wrapped__  # type: ignore[assignment]
        try:
            return hl7v2.register_command(hl7v2.split(payload), registry)
        finally:
            hl7v2._parse_components = saved  # type: ignore[assignment]

    def cold() -> None:
        for cached in (hl7v2._shape_plan, hl7v2._typed_leaf, hl7v2._full_components):
            cached.cache_clear()

    rows = [
        ("ADT^A04 parse_message (naive)", lambda: parse_message(ADT)),
        ("ADT^A04 parse_message TOLERANT, find_groups=False",
         lambda: parse_message(ADT, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=False)),
        ("ADT^A04 parse_field per field, new synthetic ADTs", lambda: every_field_through_hl7apy(next(fresh))),
        ("ADT^A04 api.mllp.hl7v2, shapes not seen yet",
         lambda: (cold(), hl7v2.register_command(hl7v2.split(adt_bytes), registry))),
        ("ADT^A04 api.mllp.hl7v2, new synthetic ADTs (chosen)",
         lambda: hl7v2.register_command(hl7v2.split(next(fresh)), registry)),
        ("QBP^Q23 parse_message (naive)", lambda: parse_message(QBP)),
        ("QBP^Q23 api.mllp.hl7v2, shapes not seen yet",
         lambda: (cold(), hl7v2.pix_query(hl7v2.split(qbp_bytes), registry))),
        ("QBP^Q23 api.mllp.hl7v2, new identifiers (chosen)",
         lambda: hl7v2.pix_query(hl7v2.split(next(fresh_q)), registry)),
    ]
    for label, fn in rows:
        print(f"{label:58s} {per_message(fn, args.n):9.0f} µs/message")


if __name__ == "__main__":
    main()
