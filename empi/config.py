"""Service configuration: identity domains, the regional domain, ports and the database.

The configuration is a TOML file (``empi serve --config FILE`` or ``EMPI_CONFIG``).  Every problem
in it is reported at once by :class:`ConfigError`.  See ``docs/configuration.md`` and
``empi/default-config.toml`` for the full shape.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from empi.errors import MalformedAuthority, UnknownAuthority

DEFAULT_CONFIG = Path(__file__).with_name("default-config.toml")


class ConfigError(ValueError):
    def __init__(self, problems: Sequence[str], source: str = "configuration") -> None:
        self.problems = list(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class Domain:
    """An assigning authority (HL7 HD / CX-4)."""

    namespace: str
    universal_id: str
    universal_id_type: str = "ISO"
    sources: tuple[str, ...] = ()
    fhir_system: str = ""
    is_health_card: bool = False
    is_regional: bool = False
    description: str = ""

    @property
    def system(self) -> str:
        """The FHIR identifier system for this domain."""
        return self.fhir_system or f"urn:oid:{self.universal_id}"


@dataclass(frozen=True, slots=True)
class Consumer:
    """A PIX Consumer that receives ITI-10 update notifications."""

    name: str
    host: str
    port: int
    domains: tuple[str, ...] = ()  # empty: every domain
    tls: bool = False
    ca_file: str = ""
    application: str = ""
    facility: str = ""


@dataclass(frozen=True, slots=True)
class Settings:
    domains: tuple[Domain, ...]
    regional: Domain
    publish_regional_id: bool = False
    database_url: str = "sqlite:///empi.db"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    mllp_host: str = "127.0.0.1"
    mllp_port: int = 2575
    application: str = "EMPI"
    facility: str = "EMPI"
    scorecard: str = ""  # path of a scorecard file; empty: the packaged default
    max_message_bytes: int = 1_048_576
    idle_timeout: float = 300.0
    read_timeout: float = 30.0
    mllp_workers: int = 8
    decode_processes: int = 0  # HL7 parsing in forked worker processes (0: in the listener's threads)
    review_margin: float = 5.0  # a second person within this many points of the best goes to review
    max_candidates: int = 50  # candidate records scored per feed, those sharing the most blocking keys first
    consumers: tuple[Consumer, ...] = ()
    secret_key: str = ""
    audit_syslog: str = ""  # host:port of an RFC 5424 collector (UDP), empty: off
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def registry(self) -> DomainRegistry:
        return DomainRegistry(self.domains, self.regional)


class DomainRegistry:
    """Looks domains up by namespace, universal ID, FHIR system and feeding source."""

    def __init__(self, domains: Iterable[Domain], regional: Domain | None = None) -> None:
        self.domains = tuple(domains)
        self.regional = regional
        every = (*self.domains, regional) if regional else self.domains
        self._by_namespace = {d.namespace.upper(): d for d in every}
        self._by_uid = {d.universal_id: d for d in every if d.universal_id}
        self._by_system = {d.system: d for d in every}
        self._by_source: dict[str, list[Domain]] = {}
        for d in self.domains:
            for src in d.sources:
                self._by_source.setdefault(_source_key(src), []).append(d)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.domains)

    @property
    def health_card(self) -> Domain | None:
        return next((d for d in self.domains if d.is_health_card), None)

    def get(self, namespace: str) -> Domain | None:
        return self._by_namespace.get(namespace.upper())

    def by_system(self, system: str) -> Domain | None:
        if system in self._by_system:
            return self._by_system[system]
        if system.startswith("urn:oid:"):
            return self._by_uid.get(system[8:])
        return None

    def for_source(self, application: str, facility: str) -> list[Domain]:
        """Domains fed by the sending application (MSH-3) at the facility (MSH-4)."""
        exact = self._by_source.get(_source_key(f"{application}|{facility}"), [])
        anywhere = self._by_source.get(_source_key(application), [])
        return list(dict.fromkeys([*exact, *anywhere]))

    def resolve(self, namespace: str | None, universal_id: str | None, universal_id_type: str | None,
                *, field: str = "authority", index: int = 0) -> Domain | None:
        """Resolve a CX-4 style authority. All parts empty gives ``None`` (the caller may fill it in).

        Accepted forms: namespace alone; universal ID with its type; all three, naming one domain.
        A universal ID without its type, or a type alone, raises MalformedAuthority; a well-formed
        authority that is not configured raises UnknownAuthority.
        """
        ns, uid, typ = (namespace or "").strip(), (universal_id or "").strip(), (universal_id_type or "").strip()
        if not (ns or uid or typ):
            return None
        if (uid and not typ) or (typ and not uid):
            raise MalformedAuthority("assigning authority needs both universal ID and its type",
                                     field=field, index=index)
        by_ns = self._by_namespace.get(ns.upper()) if ns else None
        by_uid = self._by_uid.get(uid) if uid else None
        if ns and by_ns is None:
            raise UnknownAuthority("assigning authority namespace is not configured", field=field, index=index)
        if uid:
            if by_uid is None or by_uid.universal_id_type.upper() != typ.upper():
                raise UnknownAuthority("assigning authority universal ID is not configured",
                                       field=field, index=index)
            if by_ns is not None and by_ns is not by_uid:
                raise UnknownAuthority("namespace and universal ID name different domains",
                                       field=field, index=index)
            return by_uid
        return by_ns


def _source_key(src: str) -> str:
    app, _, fac = src.partition("|")
    return f"{app.strip().upper()}|{fac.strip().upper()}" if fac.strip() else app.strip().upper()


_DOMAIN_KEYS = {"namespace", "universal_id", "universal_id_type", "sources", "fhir_system", "health_card",
                "description"}


def _domain(raw: Mapping[str, Any], where: str, problems: list[str], *, regional: bool = False) -> Domain | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a table")
        return None
    allowed = _DOMAIN_KEYS | ({"publish_in_pix"} if regional else set())
    for key in raw:
        if key not in allowed:
            problems.append(f"{where}: unknown key {key!r}")
    ns, uid = raw.get("namespace"), raw.get("universal_id")
    typ = raw.get("universal_id_type", "ISO")
    for name, value in (("namespace", ns), ("universal_id", uid), ("universal_id_type", typ)):
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}: {name} must be a non-empty string")
    for bad in "^~\\&|":
        if isinstance(ns, str) and bad in ns:
            problems.append(f"{where}: namespace may not contain {bad!r}")
    sources = raw.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) and s.strip() for s in sources):
        problems.append(f"{where}: sources must be a list of 'APPLICATION|FACILITY' strings")
        sources = []
    fhir_system = raw.get("fhir_system", "")
    if not isinstance(fhir_system, str):
        problems.append(f"{where}: fhir_system must be a string")
        fhir_system = ""
    hc = raw.get("health_card", False)
    if not isinstance(hc, bool):
        problems.append(f"{where}: health_card must be true or false")
        hc = False
    if not (isinstance(ns, str) and isinstance(uid, str) and isinstance(typ, str)):
        return None
    return Domain(namespace=ns.strip(), universal_id=uid.strip(), universal_id_type=typ.strip(),
                  sources=tuple(s.strip() for s in sources), fhir_system=fhir_system.strip(),
                  is_health_card=hc, is_regional=regional, description=str(raw.get("description", "")))


_SERVICE_KEYS: dict[str, type | tuple[type, ...]] = {
    "database_url": str, "http_host": str, "http_port": int, "mllp_host": str, "mllp_port": int,
    "application": str, "facility": str, "scorecard": str, "max_message_bytes": int,
    "idle_timeout": (int, float), "read_timeout": (int, float), "mllp_workers": int, "decode_processes": int,
    "review_margin": (int, float), "max_candidates": int, "secret_key": str, "audit_syslog": str,
}


def parse_settings(data: Mapping[str, Any], source: str = "configuration", base_dir: Path | None = None) -> Settings:
    problems: list[str] = []
    for key in data:
        if key not in {"service", "regional", "domains", "consumers"} and not key.startswith("x-"):
            problems.append(f"unknown top-level key {key!r}")
    service = data.get("service", {})
    kwargs: dict[str, Any] = {}
    if not isinstance(service, Mapping):
        problems.append("[service] must be a table")
        service = {}
    for key, value in service.items():
        expected = _SERVICE_KEYS.get(key)
        if expected is None:
            problems.append(f"[service]: unknown key {key!r}")
        elif not isinstance(value, expected) or isinstance(value, bool):
            problems.append(f"[service]: {key} has the wrong type")
        else:
            kwargs[key] = value
    if "scorecard" in kwargs and kwargs["scorecard"] and base_dir is not None:
        path = Path(kwargs["scorecard"])
        kwargs["scorecard"] = str(path if path.is_absolute() else base_dir / path)

    domains: list[Domain] = []
    raw_domains = data.get("domains", [])
    if not isinstance(raw_domains, list):
        problems.append("domains must be an array of tables ([[domains]])")
        raw_domains = []
    for i, raw in enumerate(raw_domains):
        d = _domain(raw, f"domains[{i}]", problems)
        if d:
            domains.append(d)
    raw_regional = data.get("regional", {"namespace": "EMPI", "universal_id": "2.25.314159265358979323846264338327950288",
                                         "universal_id_type": "ISO"})
    regional = _domain(raw_regional, "[regional]", problems, regional=True)
    publish = raw_regional.get("publish_in_pix", False) if isinstance(raw_regional, Mapping) else False
    if not isinstance(publish, bool):
        problems.append("[regional]: publish_in_pix must be true or false")
        publish = False

    every = [*domains, *([regional] if regional else [])]
    seen_ns: set[str] = set()
    seen_uid: set[str] = set()
    seen_sys: set[str] = set()
    for d in every:
        for label, value, seen in (("namespace", d.namespace.upper(), seen_ns),
                                   ("universal_id", d.universal_id, seen_uid), ("FHIR system", d.system, seen_sys)):
            if value in seen:
                problems.append(f"domain {d.namespace}: duplicate {label} {value!r}")
            seen.add(value)
    if sum(d.is_health_card for d in domains) > 1:
        problems.append("at most one domain may be the health-card domain")

    consumers: list[Consumer] = []
    raw_consumers = data.get("consumers", [])
    if not isinstance(raw_consumers, list):
        problems.append("consumers must be an array of tables ([[consumers]])")
        raw_consumers = []
    known = {d.namespace.upper() for d in every}
    for i, raw in enumerate(raw_consumers):
        where = f"consumers[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: must be a table")
            continue
        host, port = raw.get("host"), raw.get("port")
        if not isinstance(host, str) or not host:
            problems.append(f"{where}: host must be a non-empty string")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            problems.append(f"{where}: port must be an integer 1-65535")
        wanted = raw.get("domains", [])
        if not isinstance(wanted, list) or not all(isinstance(x, str) for x in wanted):
            problems.append(f"{where}: domains must be a list of namespaces")
            wanted = []
        for ns in wanted:
            if ns.upper() not in known:
                problems.append(f"{where}: unknown domain {ns!r}")
        if isinstance(host, str) and isinstance(port, int):
            consumers.append(Consumer(name=str(raw.get("name", f"{host}:{port}")), host=host, port=port,
                                      domains=tuple(wanted), tls=bool(raw.get("tls", False)),
                                      ca_file=str(raw.get("ca_file", "")),
                                      application=str(raw.get("application", "")),
                                      facility=str(raw.get("facility", ""))))
    if problems or regional is None:
        raise ConfigError(problems or ["[regional] is invalid"], source)
    return Settings(domains=tuple(domains), regional=regional, publish_regional_id=publish,
                    consumers=tuple(consumers), **kwargs)


def load_settings(path: str | os.PathLike[str] | None = None, *, database_url: str | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Load settings from ``path``, else ``EMPI_CONFIG``, else the packaged default configuration.

    ``database_url`` (or ``EMPI_DATABASE_URL``) overrides the file's ``[service] database_url``.
    """
    chosen = Path(path or os.environ.get("EMPI_CONFIG") or DEFAULT_CONFIG)
    try:
        text = chosen.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read {chosen}: {exc.strerror}"], str(chosen)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], str(chosen)) from None
    settings = parse_settings(data, str(chosen), chosen.parent)
    changes: dict[str, Any] = dict(overrides or {})
    url = database_url or os.environ.get("EMPI_DATABASE_URL")
    if url:
        changes["database_url"] = url
    if changes:
        from dataclasses import replace
        settings = replace(settings, **changes)
    return settings
