"""HL7 v2 in and out: parse a message with hl7apy, map it to typed commands, build RSP^K23 replies.

This is the only module that imports hl7apy. The hot path does not call ``parse_message``: on this
machine that builds the whole element tree (every segment, group detection) and costs ~8 ms per ADT.
Instead the envelope (separators, MSH) is split structurally, as MLLP framing is, and hl7apy parses
only the fields the handlers read (PID-2/3/5/6/7/8/11/13/14/18/19/30, MRG-1, QPD-3/4), at an explicit
``VALIDATION_LEVEL.TOLERANT`` against references looked up once per (segment, version). Even one
``parse_field`` per field costs ~2.5 ms a new ADT here (an element tree per field, and a feed's names,
dates and phones are new every message), so hl7apy parses each field's *shape* once (separators and
blank values, every other value a placeholder) and the message's own values are put where it placed the
placeholders; the values of datatypes hl7apy parses (NM, DTM, ...) go through hl7apy one by one,
memoised (`_parse_components`: ~0.14 ms a new ADT). Segments nobody reads (EVN, PV1, NK1, PD1, SFT,
Z-segments) are never parsed, which is also why they can never cause a rejection.
``benchmarks/mllp/bench_parse.py`` measures the ways.

Mapping decisions (ITI TF-2 3.8, Appendix C):

* Field semantics: an empty field is absent (``UNSET``: keep the stored value); an explicit ``""``
  deletes it (``None``, or ``[]`` for lists).
* Escapes ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\`` (and ``\\Xhh\\``) are decoded on input; replies re-encode.
  The echoed QPD is the request's raw segment text, so it round-trips byte for byte.
* PID-3: the record key is the first repetition whose CX-4 resolves to a configured domain, or, when
  CX-4 is empty, the sender's domain (MSH-3/MSH-4) if it feeds exactly one. Repetitions in the
  health-card domain, and PID-3 or PID-2 repetitions typed ``JHN`` without an authority, fill
  ``health_card`` (CX-1) instead of being the key; a health-card repetition is the key only when no
  other repetition resolves. Other repetitions become ``OtherIdentifier`` (with the raw authority when
  it is not configured). When no repetition resolves, the first one's error is reported (AE, 204 at
  ``PID^1^3^<rep>^4``), and a malformed authority (``&&ISO``, OID without type) in any repetition
  rejects the message.
* PID-13 and PID-14 together make ``phones``; either one given replaces the stored list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date
from functools import cache, lru_cache
from typing import Any

from hl7apy import SUPPORTED_LIBRARIES, load_library
from hl7apy.base_datatypes import TextualDataType
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Segment as _ApySegment
from hl7apy.core import is_base_datatype
from hl7apy.parser import parse_field as _apy_parse_field
from hl7apy.parser import parse_subcomponent as _apy_parse_subcomponent

from api.mllp.acks import Failure, Location, ReplyContext, escape, msa, msh
from empi.commands import (
    UNSET,
    Address,
    CrossReferences,
    Demographics,
    FeedEvent,
    MergeRecords,
    OtherIdentifier,
    PersonName,
    RecordKey,
    RegisterSourceRecord,
)
from empi.config import Domain, DomainRegistry
from empi.errors import EmpiError, InvalidInput, MalformedAuthority, UnknownAuthority

Components = tuple[tuple[str, ...], ...]  # one repetition: components, each a tuple of subcomponents
FieldValue = list[Components] | None  # [] absent, None explicit "" (delete)


class MessageError(Exception):
    """The message cannot be processed as HL7 (no MSH, bad separators): answered with AR."""

    def __init__(self, text: str, code: int = 100) -> None:
        super().__init__(text)
        self.code = code


@dataclass(frozen=True, slots=True)
class Encoding:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    def as_hl7apy(self) -> dict[str, str]:
        return {"FIELD": self.field, "COMPONENT": self.component, "REPETITION": self.repetition,
                "ESCAPE": self.escape, "SUBCOMPONENT": self.subcomponent, "GROUP": "\r", "SEGMENT": "\r"}


STANDARD = Encoding()


@dataclass(slots=True)
class Message:
    """A received message: raw segments plus the MSH values that routing and replies need."""

    segments: list[str]
    enc: Encoding
    message_type: str
    trigger: str
    structure: str
    control_id: str  # raw MSH-10, echoed verbatim in MSA-2
    version: str  # MSH-12.1
    context: ReplyContext
    # a segment's fields, split once (a feed reads a dozen fields of its PID); not copied by dataclasses.replace
    _split: dict[str, list[str]] = dataclass_field(default_factory=dict, init=False, repr=False, compare=False)

    def segment(self, name: str) -> str | None:
        return next((s for s in self.segments if s[:3] == name), None)

    def raw_field(self, segment: str, number: int) -> str:
        fields = self._split.get(segment)
        if fields is None:
            text = self.segment(segment)
            fields = [] if text is None else text.split(self.enc.field)
            if segment == "MSH" and fields:
                fields.insert(1, self.enc.field)  # MSH-1 is the separator itself
            self._split[segment] = fields
        return fields[number] if number < len(fields) else ""

    def field(self, segment: str, number: int) -> FieldValue:
        """Parse one field of the first ``segment`` with hl7apy: repetitions of decoded components."""
        raw = self.raw_field(segment, number)
        if raw == '""':
            return None
        if not raw:
            return []
        version = _library_version(self.version)
        enc = self.enc
        try:
            return [_parse_components(segment, number, rep, version, enc) for rep in raw.split(enc.repetition) if rep]
        except Exception as exc:  # noqa: BLE001 - hl7apy rejected the value even at TOLERANT: bad content, not a bug
            raise InvalidInput(f"{segment}-{number} cannot be parsed ({type(exc).__name__})",
                               field=f"{segment}-{number}") from None

    @property
    def sender(self) -> tuple[str, str]:
        return (unescape(self.context.sending_application, self.enc),
                unescape(self.context.sending_facility, self.enc))


# --------------------------------------------------------------------------------------------------
# envelope and hl7apy


def split(raw: bytes) -> Message:
    """Split a payload into segments and read MSH. Raises MessageError when it is not HL7 v2."""
    text = raw.decode("utf-8", errors="replace") if _is_utf8(raw) else raw.decode("latin-1")
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r\x00 \t")
    if not text.startswith("MSH") or len(text) < 8:
        raise MessageError("the message does not start with MSH")
    sep = text[3]
    enc_end = text.find(sep, 4)
    chars = text[4:enc_end] if enc_end > 0 else ""
    if len(chars) < 4 or sep.isalnum() or len(set(sep + chars[:4])) != 5:
        raise MessageError("MSH-1/MSH-2 do not declare the encoding characters")
    enc = Encoding(sep, chars[0], chars[1], chars[2], chars[3])
    segments = [s for s in text.split("\r") if s.strip()]
    fields = segments[0].split(sep)
    fields.insert(1, sep)  # so fields[n] is MSH-n

    def get(n: int) -> str:
        return fields[n] if n < len(fields) else ""

    def first(n: int) -> str:
        return get(n).split(enc.repetition)[0].split(enc.component)[0]

    msh9 = get(9).split(enc.component)
    version = first(12).strip()
    ctx = ReplyContext(sending_application=first(3), sending_facility=first(4), control_id=get(10),
                       processing_id=first(11), version=version,
                       trigger=msh9[1].strip() if len(msh9) > 1 else "")
    return Message(segments=segments, enc=enc, message_type=msh9[0].strip().upper(),
                   trigger=ctx.trigger.upper(), structure=msh9[2].strip().upper() if len(msh9) > 2 else "",
                   control_id=get(10), version=version, context=ctx)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _library_version(version: str) -> str:
    return version if version in SUPPORTED_LIBRARIES else "2.5"


@cache
def _references(segment: str, version: str) -> dict[str, Any]:
    """hl7apy's field references for a segment, looked up once per (segment, version)."""
    return dict(_ApySegment(segment, version=version, validation_level=VALIDATION_LEVEL.TOLERANT).structure_by_name)


# QPD-3/QPD-4 are "varies" in the v2.5 segment table; ITI-9 defines them as CX, so parse them as PID-3.
_AS_FIELD = {("QPD", 3): ("PID", 3), ("QPD", 4): ("PID", 3), ("MRG", 1): ("MRG", 1)}


def _parse_components(segment: str, number: int, text: str, version: str, enc: Encoding) -> Components:
    """hl7apy's parse of one repetition (`_components` of `parse_field`), without building an element tree
    per message.

    At TOLERANT validation, what hl7apy makes of a repetition depends on its text only through its shape
    (where the separators are, which values are blank) and the values of leaves whose datatype parses them
    (NM, DTM, DT, TM, SI): a textual leaf (ST, ID, IS, ...) is kept as written. So hl7apy parses a template of
    the shape once, each non-blank value replaced by a numbered placeholder (`_shape_plan`, cached), and the
    message's own values are put where hl7apy placed the placeholders; a leaf of a parsing datatype is parsed
    by hl7apy on its own (`_typed_leaf`, memoised). Shapes hl7apy treats some other way go through the full
    parse of the text (`_full_components`). tests/mllp/test_hl7_shapes.py checks both ways agree."""
    leaves: list[str] = []
    comps = []
    for comp in text.split(enc.component):
        subs = comp.split(enc.subcomponent)
        for i, leaf in enumerate(subs):
            if leaf.strip():
                subs[i] = f"L{len(leaves)}L"
                leaves.append(leaf)
        comps.append(enc.subcomponent.join(subs))
    template = enc.component.join(comps)
    plan = _shape_plan(segment, number, template, version, enc)
    if plan is None:
        return _full_components(segment, number, text, version, enc)
    esc = enc.escape
    out = []
    for comp_plan in plan:
        values = []
        for leaf in comp_plan:
            if leaf.__class__ is int:
                value = leaves[leaf]
                values.append(unescape(value, enc) if esc in value else value)
            elif leaf.__class__ is str:
                values.append(leaf)
            else:
                values.append(_typed_leaf(leaves[leaf[0]], leaf[1], version, enc))
        out.append(tuple(values))
    return tuple(out)


@lru_cache(maxsize=4096)
def _shape_plan(segment: str, number: int, template: str, version: str,
                enc: Encoding) -> tuple[tuple[int | str | tuple[int, str], ...], ...] | None:
    """Where hl7apy puts each leaf of a shape: per component, per subcomponent, the index of the message's
    leaf (textual), a blank leaf's own text, or (index, datatype) for a leaf of a parsing base datatype.
    None when the shape needs the full parse: hl7apy rejected the template, or a parsing datatype sits in a
    complex component (CX-7's DT in an HD), or a leaf came back other than as it went in."""
    try:
        element = _parse_field(segment, number, template, version, enc)
    except Exception:  # noqa: BLE001 - the full parse of the text decides (and reports) it
        return None
    textual = _textual_types(version)
    found: dict[int, tuple[int | str | tuple[int, str], ...]] = {}
    width = 0
    for comp in element.children:
        pos = _position(comp.name)
        base = is_base_datatype(comp.datatype, version) if comp.datatype else False
        subs: dict[int, int | str | tuple[int, str]] = {}
        for sub in comp.children:
            value = getattr(sub.value, "value", sub.value)
            if not isinstance(value, str):
                return None
            if not value.strip():
                leaf: int | str | tuple[int, str] = value
            elif _PLACEHOLDER.fullmatch(value) is None:
                return None
            else:
                index = int(value[1:-1])
                datatype = sub.datatype
                if datatype in textual:
                    leaf = index
                elif base and datatype == comp.datatype and len(comp.children) == 1:
                    leaf = (index, datatype)  # parsed as parse_subcomponents parses a base-datatype component
                else:
                    return None
            subs[_position(sub.name)] = leaf
        found[pos] = tuple(subs.get(i, "") for i in range(1, max(subs, default=0) + 1)) or ("",)
        width = max(width, pos)
    return tuple(found.get(i, ("",)) for i in range(1, width + 1))


_PLACEHOLDER = re.compile(r"L\d+L")


@cache
def _textual_types(version: str) -> frozenset[str]:
    """hl7apy's base datatypes that keep a value as written (TextualDataType: ST, ID, IS, TX, FT, ...)."""
    types = load_library(version).get_base_datatypes()
    return frozenset(name for name, cls in types.items() if isinstance(cls, type) and issubclass(cls, TextualDataType))


@lru_cache(maxsize=32768)
def _typed_leaf(text: str, datatype: str, version: str, enc: Encoding) -> str:
    """One leaf of a parsing base datatype (NM, DTM, ...), as hl7apy's parse_subcomponents makes it for a
    base-datatype component, rendered as `_components` renders it."""
    sub = _apy_parse_subcomponent(text, None, datatype, version, VALIDATION_LEVEL.TOLERANT, None)
    value = getattr(sub.value, "value", sub.value)
    return unescape(value if isinstance(value, str) else sub.to_er7(), enc)


@lru_cache(maxsize=4096)
def _full_components(segment: str, number: int, text: str, version: str, enc: Encoding) -> Components:
    """hl7apy's parse of one repetition, element tree and all (shapes `_shape_plan` leaves to it)."""
    return _components(_parse_field(segment, number, text, version, enc), enc)


def _parse_field(segment: str, number: int, text: str, version: str, enc: Encoding) -> Any:
    ref_segment, ref_number = _AS_FIELD.get((segment, number), (segment, number))
    name = f"{ref_segment}_{ref_number}"
    entry = _references(ref_segment, version).get(name)
    if entry is None:
        return _apy_parse_field(text, None, version, _apy_enc(enc), VALIDATION_LEVEL.TOLERANT, None, True)
    return _apy_parse_field(text, name, version, _apy_enc(enc), VALIDATION_LEVEL.TOLERANT, entry["ref"])


@cache
def _apy_enc(enc: Encoding) -> dict[str, str]:
    return enc.as_hl7apy()


def _position(name: str | None) -> int:
    tail = (name or "").rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 1


def _components(element: Any, enc: Encoding) -> Components:
    """Turn an hl7apy Field into positional, unescaped components and subcomponents."""
    width = 0
    found: dict[int, tuple[str, ...]] = {}
    for comp in element.children:
        pos = _position(comp.name)
        subs: dict[int, str] = {}
        for sub in comp.children:
            value = getattr(sub.value, "value", sub.value)  # DT/DTM/TM hold datetimes: use their ER7 text
            subs[_position(sub.name)] = unescape(value if isinstance(value, str) else sub.to_er7(), enc)
        found[pos] = tuple(subs.get(i, "") for i in range(1, max(subs, default=0) + 1)) or ("",)
        width = max(width, pos)
    return tuple(found.get(i, ("",)) for i in range(1, width + 1))


_ESCAPE_RE: dict[str, re.Pattern[str]] = {}


def unescape(value: str, enc: Encoding = STANDARD) -> str:
    """Decode \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ and \\Xhh..\\; drop formatting escapes (\\H\\, \\N\\, \\.br\\)."""
    esc = enc.escape
    if esc not in value:
        return value
    pattern = _ESCAPE_RE.get(esc)
    if pattern is None:
        e = re.escape(esc)
        pattern = _ESCAPE_RE[esc] = re.compile(f"{e}([^{e}]*){e}")
    table = {"F": enc.field, "S": enc.component, "T": enc.subcomponent, "R": enc.repetition, "E": esc}

    def replace(m: re.Match[str]) -> str:
        code = m.group(1)
        if code in table:
            return table[code]
        if code[:1] == "X" and len(code) > 1:
            try:
                return bytes.fromhex(code[1:]).decode("utf-8", errors="replace")
            except ValueError:
                return m.group(0)
        return "\n" if code == ".br" else ""

    return pattern.sub(replace, value)


def _get(rep: Components, comp: int, sub: int = 1) -> str:
    if comp > len(rep):
        return ""
    subs = rep[comp - 1]
    return subs[sub - 1] if sub <= len(subs) else ""


def _null(value: str) -> bool:
    return value == '""'


# --------------------------------------------------------------------------------------------------
# ITI-8: PID -> Demographics, keys


@dataclass(frozen=True, slots=True)
class CxValue:
    identifier: str
    namespace: str
    universal_id: str
    universal_id_type: str
    type_code: str

    @classmethod
    def of(cls, rep: Components) -> CxValue:
        return cls(_get(rep, 1).strip(), _get(rep, 4, 1).strip(), _get(rep, 4, 2).strip(), _get(rep, 4, 3).strip(),
                   _get(rep, 5).strip().upper())

    @property
    def has_authority(self) -> bool:
        return bool(self.namespace or self.universal_id or self.universal_id_type)

    @property
    def raw_authority(self) -> str:
        return "&".join(p for p in (self.namespace, self.universal_id, self.universal_id_type) if p)


def resolve_cx(registry: DomainRegistry, cx: CxValue, *, sender: tuple[str, str], field: str,
               index: int) -> Domain:
    """The domain of a CX: its CX-4, or the sending source's single domain when CX-4 is empty."""
    domain = registry.resolve(cx.namespace, cx.universal_id, cx.universal_id_type, field=f"{field}.4", index=index)
    if domain is not None:
        return domain
    fed = registry.for_source(*sender)
    if len(fed) == 1:
        return fed[0]
    raise UnknownAuthority("no assigning authority, and the sender does not feed exactly one domain",
                           field=f"{field}.4", index=index)


@dataclass(slots=True)
class _Ids:
    key: RecordKey | None = None
    health_card: str | None | Any = UNSET
    others: list[OtherIdentifier] | None = None
    first_error: EmpiError | None = None


def _identifiers(msg: Message, registry: DomainRegistry, segment: str = "PID") -> _Ids:
    reps = msg.field(segment, 3) or []
    if not reps:
        raise InvalidInput("PID-3 is required", field=f"{segment}-3")
    ids = _Ids(others=[])
    hc_domain = registry.health_card
    hc_candidates: list[tuple[Domain, CxValue]] = []
    for i, rep in enumerate(reps):
        cx = CxValue.of(rep)
        if not cx.identifier:
            continue
        if cx.type_code == "JHN" and not cx.has_authority and hc_domain is not None:
            ids.health_card = cx.identifier
            continue
        try:
            domain = resolve_cx(registry, cx, sender=msg.sender, field=f"{segment}-3", index=i)
        except MalformedAuthority:
            raise
        except UnknownAuthority as exc:
            ids.first_error = ids.first_error or exc
            ids.others.append(OtherIdentifier(value=cx.identifier, type=cx.type_code or None,
                                              authority=cx.raw_authority or None))
            continue
        if domain.is_health_card:
            hc_candidates.append((domain, cx))
            ids.health_card = cx.identifier
        elif ids.key is None and not domain.is_regional:
            ids.key = RecordKey(identifier=cx.identifier, domain=domain.namespace)
        else:
            ids.others.append(OtherIdentifier(value=cx.identifier, domain=domain.namespace,
                                              type=cx.type_code or None))
    if ids.key is None and hc_candidates:
        domain, cx = hc_candidates[0]
        ids.key = RecordKey(identifier=cx.identifier, domain=domain.namespace)
    if ids.key is None:
        raise ids.first_error or InvalidInput("PID-3 has no identifier", field=f"{segment}-3")
    return ids


def _pid2_health_card(msg: Message, registry: DomainRegistry) -> str | None:
    for rep in msg.field("PID", 2) or []:
        cx = CxValue.of(rep)
        if not cx.identifier:
            continue
        if cx.type_code == "JHN" and not cx.has_authority:
            return cx.identifier
        try:
            domain = registry.resolve(cx.namespace, cx.universal_id, cx.universal_id_type)
        except UnknownAuthority:
            continue
        if domain is not None and domain.is_health_card:
            return cx.identifier
    return None


def parse_hl7_date(value: str, *, field: str) -> str:
    """HL7 DT/TS -> ISO 'YYYY-MM-DD' (or 'YYYY' / 'YYYY-MM' when partial). Raises InvalidInput."""
    digits = value.strip()
    m = re.fullmatch(r"(\d{4})(\d{2})?(\d{2})?(\d{2,6}(\.\d{1,4})?)?([+-]\d{4})?", digits)
    if not m:
        raise InvalidInput("the date is not an HL7 date", field=field)
    year, month, day = m.group(1), m.group(2), m.group(3)
    try:
        if day:
            return date(int(year), int(month), int(day)).isoformat()
        if month:
            date(int(year), int(month), 1)
            return f"{year}-{month}"
    except ValueError:
        raise InvalidInput("the date does not exist", field=field) from None
    return year


def _scalar(value: FieldValue, comp: int = 1, sub: int = 1) -> str | None | Any:
    """UNSET when absent, None when "" (delete), else the first repetition's component."""
    if value is None:
        return None
    if not value:
        return UNSET
    text = _get(value[0], comp, sub).strip()
    if _null(text):
        return None
    return text or UNSET


def _names(value: FieldValue) -> list[PersonName] | Any:
    if value is None:
        return []
    if not value:
        return UNSET
    names = []
    for rep in value:
        def part(n: int, rep: Components = rep) -> str | None:
            return _get(rep, n).strip() or None

        name = PersonName(family=part(1), given=part(2), middle=part(3), suffix=part(4), prefix=part(5),
                          use=(part(7) or "").upper() or None)
        if any((name.family, name.given, name.middle)):
            names.append(name)
    return names


def _addresses(value: FieldValue) -> list[Address] | Any:
    if value is None:
        return []
    if not value:
        return UNSET
    out = []
    for rep in value:
        def part(n: int, rep: Components = rep) -> str | None:
            return _get(rep, n).strip() or None

        addr = Address(line1=part(1), line2=part(2), city=part(3), province=part(4), postal_code=part(5),
                       country=part(6), use=(part(7) or "").upper() or None)
        if any(v for k, v in addr.as_dict().items() if k != "use"):
            out.append(addr)
    return out


def _phone(rep: Components) -> str | None:
    formatted = _get(rep, 1).strip()
    if formatted:
        return formatted
    email = _get(rep, 4).strip()
    number = "".join(p for p in (_get(rep, 5).strip(), _get(rep, 6).strip(), _get(rep, 7).strip()) if p)
    if number and _get(rep, 8).strip():
        number += f"x{_get(rep, 8).strip()}"
    return number or email or None


def _phones(home: FieldValue, work: FieldValue) -> list[str] | Any:
    if home == [] and work == []:
        return UNSET
    return [p for value in (home, work) for rep in (value or []) if (p := _phone(rep))]


def demographics(msg: Message) -> Demographics:
    """PID -> Demographics (without identifiers)."""
    birth = _scalar(msg.field("PID", 7))
    if isinstance(birth, str):
        birth = parse_hl7_date(birth, field="PID-7")
    sex = _scalar(msg.field("PID", 8))
    deceased = _scalar(msg.field("PID", 30))
    return Demographics(
        names=_names(msg.field("PID", 5)),
        birth_date=birth,
        sex=sex.upper() if isinstance(sex, str) else sex,
        addresses=_addresses(msg.field("PID", 11)),
        phones=_phones(msg.field("PID", 13), msg.field("PID", 14)),
        ssn=_scalar(msg.field("PID", 19)),
        mothers_maiden_name=_scalar(msg.field("PID", 6)),
        account_number=_scalar(msg.field("PID", 18)),
        is_deceased=deceased.upper() == "Y" if isinstance(deceased, str) else deceased,
    )


def _source(msg: Message) -> str:
    app, fac = msg.sender
    return f"{app}|{fac}"


def _require_pid(msg: Message) -> None:
    if msg.segment("PID") is None:
        raise InvalidInput("the PID segment is missing", field="PID-3")


def register_command(msg: Message, registry: DomainRegistry) -> RegisterSourceRecord:
    """ADT A01/A04/A05 (create) and A08 (update) -> RegisterSourceRecord."""
    _require_pid(msg)
    ids = _identifiers(msg, registry)
    demo = demographics(msg)
    hc = ids.health_card
    if hc is UNSET:
        pid2 = _pid2_health_card(msg, registry)
        hc = pid2 if pid2 is not None else UNSET
    demo.health_card = hc
    if ids.others:
        demo.other_identifiers = ids.others
    event = FeedEvent.UPDATE if msg.trigger in {"A08", "A31"} else FeedEvent.CREATE
    assert ids.key is not None
    return RegisterSourceRecord(key=ids.key, demographics=demo, event=event, source=_source(msg))


def merge_command(msg: Message, registry: DomainRegistry) -> MergeRecords:
    """ADT A40: the MRG-1 record is subsumed by the PID-3 record."""
    _require_pid(msg)
    ids = _identifiers(msg, registry)
    if msg.segment("MRG") is None:
        raise InvalidInput("the MRG segment is missing", field="MRG-1")
    reps = msg.field("MRG", 1) or []
    cx = CxValue.of(reps[0]) if reps else None
    if cx is None or not cx.identifier:
        raise InvalidInput("MRG-1 is required", field="MRG-1.1")
    domain = resolve_cx(registry, cx, sender=msg.sender, field="MRG-1", index=0)
    assert ids.key is not None
    return MergeRecords(surviving=ids.key, subsumed=RecordKey(identifier=cx.identifier, domain=domain.namespace),
                        source=_source(msg))


# --------------------------------------------------------------------------------------------------
# ITI-9: QBP^Q23 -> PixQuery, and RSP^K23


@dataclass(frozen=True, slots=True)
class PixQuery:
    key: RecordKey
    domains: tuple[str, ...] | None  # None: every domain (QPD-4 empty)


class QueryError(Exception):
    """A PIX query error already placed at its QPD position (cases 3-5); not a domain error."""

    def __init__(self, message: str, location: Location, code: int = 204) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.code = code


def pix_query(msg: Message, registry: DomainRegistry) -> PixQuery:
    if msg.segment("QPD") is None:
        raise QueryError("the QPD segment is missing", Location("QPD", 3), code=101)
    reps = msg.field("QPD", 3) or []
    cx = CxValue.of(reps[0]) if reps else None
    if cx is None or not cx.identifier:
        raise QueryError("QPD-3.1 is required", Location("QPD", 3, 1, 1), code=101)
    try:
        domain = registry.resolve(cx.namespace, cx.universal_id, cx.universal_id_type)
    except UnknownAuthority:
        domain = None
    if domain is None:
        raise QueryError("QPD-3 assigning authority is not known", Location("QPD", 3, 1, 4))
    wanted: list[str] = []
    for i, rep in enumerate(msg.field("QPD", 4) or []):
        target = CxValue.of(rep)
        try:
            found = registry.resolve(target.namespace, target.universal_id, target.universal_id_type)
        except UnknownAuthority:
            raise QueryError("QPD-4 names a domain that is not known", Location("QPD", 4, i + 1)) from None
        if found is not None:  # an empty repetition asks for nothing
            wanted.append(found.namespace)
    return PixQuery(key=RecordKey(identifier=cx.identifier, domain=domain.namespace),
                    domains=tuple(dict.fromkeys(wanted)) or None)


def pid_cx(identifier: str, domain: Domain) -> str:
    """A fully qualified CX: ID^^^namespace&universal ID&type."""
    return (f"{escape(identifier)}^^^{escape(domain.namespace)}&{escape(domain.universal_id)}"
            f"&{escape(domain.universal_id_type)}")


def rsp_k23(msg: Message, *, application: str, facility: str, registry: DomainRegistry,
            result: CrossReferences | None = None, failure: Failure | None = None) -> str:
    """RSP^K23 per ITI TF-2 3.9.4.2: MSH, MSA, [ERR], QAK, QPD (echoed), [PID with PID-3 and PID-5]."""
    from api.mllp.acks import err

    ctx = ReplyContext(sending_application=msg.context.sending_application,
                       sending_facility=msg.context.sending_facility, control_id=msg.control_id,
                       processing_id=msg.context.processing_id, version="2.5")
    qpd = msg.segment("QPD")
    tag = msg.raw_field("QPD", 2)
    cxs = [pid_cx(x.identifier, d) for x in (result.identifiers if result else [])
           if (d := registry.get(x.domain)) is not None]
    if failure is not None:
        ack_code, status = failure.ack_code, failure.ack_code
    else:
        ack_code, status = "AA", "OK" if cxs else "NF"
    segments = [msh(ctx, application=application, facility=facility, message_type="RSP^K23^RSP_K23",
                    version="2.5"), msa(ack_code, ctx)]
    if failure is not None:
        segments.append(err(failure, version="2.5"))
    segments.append(f"QAK|{tag}|{status}")
    segments.append(qpd if qpd is not None else "QPD")
    if cxs and failure is None:
        segments.append(f"PID|||{'~'.join(cxs)}||~^^^^^^S")
    return "\r".join(segments) + "\r"
