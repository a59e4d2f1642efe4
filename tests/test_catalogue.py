"""The catalogue is data; these tests pin the facts the rest of the harness relies on."""

from pathlib import Path

import pytest

from harness.core.catalogue import load_catalogue
from harness.core.errors import ConfigError, UsageError


def test_nine_interfaces_and_their_event_counts() -> None:
    cat = load_catalogue()
    counts = {i.id: len(i.events) for i in cat.interfaces.values()}
    assert counts == {"IF-006": 5, "IF-008": 1, "IF-024": 6, "IF-026": 4, "IF-061": 1,
                      "IF-062": 1, "IF-063": 1, "IF-064": 1, "IF-065": 4}


def test_directions_for_mdr_and_sds() -> None:
    cat = load_catalogue()
    assert cat.event("IF-061").direction_for("MDR") == "incoming"
    assert cat.event("IF-061").direction_for("SDS") == "outgoing"
    assert cat.event("IF-062").direction_for("MDR") == "outgoing"
    assert cat.event("IF-065", "ReadingRemote").direction_for("MDR") == "outgoing"
    assert cat.event("IF-065", "[MDRTOU]").direction_for("MDR") == "incoming"
    assert cat.get("IF-006").directions_for("MDR") == {"incoming"}


def test_lookup_is_forgiving_about_case_and_brackets() -> None:
    cat = load_catalogue()
    assert cat.get("if-061").id == "IF-061"
    assert cat.event("IF-024", "[sn-vacant]").name == "SN-Vacant"


def test_unknown_names_are_usage_errors_naming_the_choices() -> None:
    cat = load_catalogue()
    with pytest.raises(UsageError, match="IF-099.*IF-006"):
        cat.get("IF-099")
    with pytest.raises(UsageError, match="several events"):
        cat.event("IF-065")


def test_a_broken_catalogue_file_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "cat.toml"
    bad.write_text('[[interface]]\nid = "IF-061"\n')
    with pytest.raises(ConfigError, match=r"cat.toml: interface\[0\]: missing key 'category'"):
        load_catalogue(bad)
