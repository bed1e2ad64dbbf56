from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from empi.config import ConfigError, DomainRegistry, load_settings, parse_settings
from empi.errors import MalformedAuthority, UnknownAuthority
from tests.conftest import NIST_CONFIG


@pytest.fixture
def registry() -> DomainRegistry:
    return parse_settings(NIST_CONFIG).registry


class TestResolveAuthority:
    def test_namespace_alone_resolves_to_the_full_domain(self, registry: DomainRegistry) -> None:
        d = registry.resolve("NIST2010-2", None, None)
        assert d is not None and d.universal_id == "2.16.840.1.113883.3.72.5.9.2" and d.universal_id_type == "ISO"

    def test_universal_id_and_type_resolve_to_the_full_domain(self, registry: DomainRegistry) -> None:
        d = registry.resolve("", "2.16.840.1.113883.3.72.5.9.3", "ISO")
        assert d is not None and d.namespace == "NIST2010-3"

    def test_all_three_consistent(self, registry: DomainRegistry) -> None:
        d = registry.resolve("IHE2010", "1.3.6.1.4.1.21367.2010.1.1", "ISO")
        assert d is not None and d.namespace == "IHE2010"

    def test_all_empty_is_none(self, registry: DomainRegistry) -> None:
        assert registry.resolve("", "", "") is None

    @pytest.mark.parametrize(("ns", "uid", "typ"), [("", "2.16.840.1.113883.3.72.5.9.1", ""), ("", "", "ISO")])
    def test_partial_authority_is_malformed(self, registry: DomainRegistry, ns: str, uid: str, typ: str) -> None:
        with pytest.raises(MalformedAuthority):
            registry.resolve(ns, uid, typ)

    @pytest.mark.parametrize(("ns", "uid", "typ"), [
        ("UNKNOWNDOMAIN", "2.16.840.1.113883.3.72.5.9.99", "ISO"),
        ("UNKNOWNDOMAIN", "", ""),
        ("", "2.16.840.1.113883.3.72.5.9.99", "ISO"),
        ("NIST2010", "2.16.840.1.113883.3.72.5.9.2", "ISO"),  # names two different domains
        ("", "2.16.840.1.113883.3.72.5.9.1", "DNS"),  # wrong type
    ])
    def test_unknown_or_inconsistent_authority(self, registry: DomainRegistry, ns: str, uid: str, typ: str) -> None:
        with pytest.raises(UnknownAuthority):
            registry.resolve(ns, uid, typ)

    def test_sources_map_to_their_domains(self, registry: DomainRegistry) -> None:
        assert [d.namespace for d in registry.for_source("HIS", "HOSPA")] == ["HOSPA"]
        assert len(registry.for_source("NIST_SENDER", "NIST")) == 4
        assert registry.for_source("NOBODY", "X") == []

    def test_fhir_system_lookup(self, registry: DomainRegistry) -> None:
        d = registry.by_system("urn:oid:2.25.1001")
        assert d is not None and d.namespace == "HOSPA"
        assert registry.health_card is not None and registry.health_card.namespace == "ONHCN"


class TestLoadSettings:
    def test_every_problem_is_reported_at_once(self) -> None:
        bad = {"service": {"http_port": "eighty", "colour": 1},
               "domains": [{"namespace": "A"}, {"namespace": "B", "universal_id": "1.2", "health_card": "yes"},
                           {"namespace": "B", "universal_id": "1.3"}]}
        with pytest.raises(ConfigError) as err:
            parse_settings(bad)
        text = str(err.value)
        for fragment in ("http_port", "colour", "universal_id must be", "health_card must be", "duplicate namespace"):
            assert fragment in text

    def test_default_configuration_loads(self) -> None:
        s = load_settings()
        assert s.regional.is_regional and s.publish_regional_id is False
        assert s.database_url.startswith("sqlite")

    def test_environment_overrides_database_url(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        cfg = tmp_path / "c.toml"
        cfg.write_text('[[domains]]\nnamespace = "X"\nuniversal_id = "1.2.3"\nsources = ["A|B"]\n')
        monkeypatch.setenv("EMPI_CONFIG", str(cfg))
        monkeypatch.setenv("EMPI_DATABASE_URL", "sqlite:////tmp/other.db")
        s = load_settings()
        assert [d.namespace for d in s.domains] == ["X"] and s.database_url == "sqlite:////tmp/other.db"

    def test_invalid_toml_is_a_clear_error(self, tmp_path: Path) -> None:
        cfg = tmp_path / "bad.toml"
        cfg.write_text("[[domains]\n")
        with pytest.raises(ConfigError, match="not valid TOML"):
            load_settings(cfg)


class TestCli:
    def test_domains_list_shows_every_domain_and_the_regional_one(self, tmp_path: Path) -> None:
        cfg = tmp_path / "c.toml"
        cfg.write_text('[regional]\nnamespace = "REG"\nuniversal_id = "2.25.9"\npublish_in_pix = true\n'
                       '[[domains]]\nnamespace = "HOSP"\nuniversal_id = "2.25.1"\nsources = ["HIS|H"]\n'
                       '[[domains]]\nnamespace = "OHIP"\nuniversal_id = "2.16.840.1.113883.4.59"\nhealth_card = true\n')
        out = subprocess.run([sys.executable, "-m", "api.cli", "domains", "list", "--config", str(cfg)],
                             capture_output=True, text=True, check=True).stdout
        assert "HOSP" in out and "HIS|H" in out and "health-card" in out and "regional (published)" in out

    def test_bad_config_gives_a_message_not_a_traceback(self, tmp_path: Path) -> None:
        cfg = tmp_path / "c.toml"
        cfg.write_text('[[domains]]\nnamespace = "HOSP"\n')
        proc = subprocess.run([sys.executable, "-m", "api.cli", "domains", "list", "--config", str(cfg)],
                              capture_output=True, text=True)
        assert proc.returncode == 2
        assert "universal_id must be a non-empty string" in proc.stderr and "Traceback" not in proc.stderr
