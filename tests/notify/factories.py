"""Synthetic feeds for notification tests (invented names and numbers, no PHI)."""

from __future__ import annotations

from empi.commands import Address, Demographics, FeedEvent, PersonName, RecordKey, RegisterSourceRecord


def feed(identifier: str, domain: str, *, family: str = "Quillfeather", given: str = "Ondine",
         birth_date: str = "1971-04-09", sex: str = "F", event: FeedEvent = FeedEvent.CREATE) -> RegisterSourceRecord:
    demo = Demographics(names=[PersonName(family=family, given=given)], birth_date=birth_date, sex=sex,
                        addresses=[Address(line1="7 Larkspur Way", city="Norbury", province="ON",
                                           postal_code="K0K 1A0")],
                        phones=["555-0142"])
    return RegisterSourceRecord(key=RecordKey(identifier, domain), demographics=demo, event=event, source="TEST")
