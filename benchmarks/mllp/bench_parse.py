"""How fast is hl7apy on the ITI-8/ITI-9 hot path? Prints microseconds per message.

    .venv/bin/python benchmarks/mllp/bench_parse.py [--n 300]

Compares hl7apy's ``parse_message`` (default validation, group detection), ``parse_message`` with
``find_groups=False`` and ``VALIDATION_LEVEL.TOLERANT``, and what ``api.mllp.hl7v2`` does: split the
envelope, then ``parse_field`` only the fields that are mapped, against cached references.
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
    records = build_records(5000, 1)
    varied = itertools.cycle([bench_adt(f"V{i}", ident, "NIST2010", p) for i, (ident, _, p) in enumerate(records)])
    varied_q = itertools.cycle([QBP.replace("PIX10501", ident).encode() for ident, _, _ in records])
    for _ in range(2000):  # fill the memo as a running listener would have
        hl7v2.register_command(hl7v2.split(next(varied)), registry)
    rows = [
        ("ADT^A04 parse_message (naive)", lambda: parse_message(ADT)),
        ("ADT^A04 parse_message TOLERANT, find_groups=False",
         lambda: parse_message(ADT, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=False)),
        ("ADT^A04 api.mllp.hl7v2 split + register_command, memo cold",
         lambda: (hl7v2._parse_components.cache_clear(), hl7v2.register_command(hl7v2.split(adt_bytes), registry))),
        ("ADT^A04 api.mllp.hl7v2, varied synthetic ADTs (chosen)",
         lambda: hl7v2.register_command(hl7v2.split(next(varied)), registry)),
        ("QBP^Q23 parse_message (naive)", lambda: parse_message(QBP)),
        ("QBP^Q23 api.mllp.hl7v2 split + pix_query, memo cold",
         lambda: (hl7v2._parse_components.cache_clear(), hl7v2.pix_query(hl7v2.split(qbp_bytes), registry))),
        ("QBP^Q23 api.mllp.hl7v2, varied identifiers (chosen)",
         lambda: hl7v2.pix_query(hl7v2.split(next(varied_q)), registry)),
    ]
    for label, fn in rows:
        print(f"{label:58s} {per_message(fn, args.n):9.0f} µs/message")


if __name__ == "__main__":
    main()
