"""Plain factory functions for synthetic patients (no PHI: invented names and numbers)."""

from __future__ import annotations

from typing import Any

from empi.commands import Address, Demographics, FeedEvent, PersonName, RecordKey, RegisterSourceRecord

BASE: dict[str, Any] = dict(given_name="Maria", family_name="Kowalczyk", birth_date="1980-03-14", sex="F",
                            address_line="12 Lakeshore Rd", city="Kingston", province="ON", postal_code="K7L 3N6",
                            phone="613-555-0101", health_card=None, mothers_maiden_name=None, middle_name=None)


def person(**overrides: Any) -> dict[str, Any]:
    data = dict(BASE)
    data.update(overrides)
    return data


def demographics(p: dict[str, Any]) -> Demographics:
    names = [PersonName(family=p.get("family_name"), given=p.get("given_name"), middle=p.get("middle_name"))]
    if p.get("maiden_name"):  # a second name: the record's family-name alias
        names.append(PersonName(family=p["maiden_name"], given=p.get("given_name"), use="M"))
    return Demographics(
        names=names,
        birth_date=p.get("birth_date"), sex=p.get("sex"),
        addresses=[Address(line1=p.get("address_line"), city=p.get("city"), province=p.get("province"),
                           postal_code=p.get("postal_code"))],
        phones=[p["phone"]] if p.get("phone") else [],
        health_card=p.get("health_card"), mothers_maiden_name=p.get("mothers_maiden_name"))


def feed(identifier: str, domain: str, p: dict[str, Any], *, event: FeedEvent = FeedEvent.CREATE) -> RegisterSourceRecord:
    return RegisterSourceRecord(key=RecordKey(identifier, domain), demographics=demographics(p), event=event,
                                source="TEST")
