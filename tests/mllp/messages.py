"""Synthetic HL7 v2 messages for the adapter tests (invented people, no PHI)."""

from __future__ import annotations

NIST = "NIST2010&2.16.840.1.113883.3.72.5.9.1&ISO"
NIST2 = "NIST2010-2&2.16.840.1.113883.3.72.5.9.2&ISO"
NIST3 = "NIST2010-3&2.16.840.1.113883.3.72.5.9.3&ISO"


def adt(trigger: str = "A04", *, control_id: str = "MSG0001", pid3: str = f"T-1^^^{NIST}",
        name: str = "TESTER^TINA^^^^^L", dob: str = "19800102", sex: str = "F",
        address: str = "1 Test Road^^TESTVILLE^ON^K0K0K0", ssn: str = "", extra_pid: str = "",
        sender: str = "NIST_SENDER^^|NIST^^", version: str = "2.3.1", structure: str = "ADT_A01",
        segments: str = "", pid2: str = "", phone: str = "^PRN^PH^^^555^5550100") -> str:
    """An ITI-8 ADT. Fields passed as "" are left empty (absent)."""
    msh = f"MSH|^~\\&|{sender}|EMPI|EMPI|20240101120000||ADT^{trigger}^{structure}|{control_id}|P|{version}"
    pid = f"PID|||{pid3}||{name}||{dob}|{sex}|||{address}||{phone}||||||{ssn}{extra_pid}"
    if pid2:
        pid = pid.replace("PID|||", f"PID||{pid2}|", 1)
    return "\r".join(s for s in [msh, "EVN||20240101120000", pid, segments, "PV1||O"] if s)


def merge(*, control_id: str = "MRG0001", surviving: str = f"T-2^^^{NIST}", subsumed: str = f"T-1^^^{NIST}") -> str:
    msh = f"MSH|^~\\&|NIST_SENDER|NIST|EMPI|EMPI|20240101120000||ADT^A40^ADT_A39|{control_id}|P|2.3.1"
    return "\r".join([msh, "EVN|A40|20240101120000", f"PID|||{surviving}||TESTER^TINA^^^^^L||19800102|F",
                      f"MRG|{subsumed}"])


def q23(pid: str, *, domains: str = "", control_id: str = "QRY0001", tag: str = "TAG1",
        msh9: str = "QBP^Q23^QBP_Q21") -> str:
    msh = f"MSH|^~\\&|NIST_SENDER|NIST|EMPI|EMPI|20240101120000||{msh9}|{control_id}|P|2.5"
    return "\r".join([msh, f"QPD|IHE PIX Query|{tag}|{pid}|{domains}", "RCP|I"])
