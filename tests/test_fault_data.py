"""faults.toml as data: several requirement globs, and [[fault.case]] tables for the fault matrix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.core.errors import ConfigError
from harness.reference.faults import FaultCase, load_faults, parse_fault

BASE = '''
[[fault]]
name = "drop-field"
params = ["interface", "block"]
role = "both"
description = "d"
breaks = "schema.required"
requirement = ["{role}-*/{interface}/produce*", "{role}-*/exchange/stop"]
also = ["{role}-*/exchange/reject"]
'''


def load(tmp_path: Path, extra: str = "") -> list:
    path = tmp_path / "faults.toml"
    path.write_text(BASE + extra, encoding="utf-8")
    return load_faults(path)


def test_requirement_globs_and_cases(tmp_path):
    [d] = load(tmp_path, '[[fault.case]]\nrole = "SDS"\nargs = ["IF-061", "M0"]\nrequirement = "SDS-x"\n'
                         'also = []\n')
    assert d.requirements == ("{role}-*/{interface}/produce*", "{role}-*/exchange/stop")
    assert d.requirement == "{role}-*/{interface}/produce*, {role}-*/exchange/stop"
    assert d.case_for("SDS") == FaultCase("SDS", ("IF-061", "M0"), ("SDS-x",), ())
    assert d.case_for("MDR") == FaultCase("MDR") and d.case_for("SDS").spec("drop-field") == "drop-field:IF-061:M0"
    fault = parse_fault("drop-field:IF-062:R0", "MDR", [d])
    assert fault.requirements == ("MDR-*/IF-062/produce*", "MDR-*/exchange/stop")
    assert fault.requirement == "MDR-*/IF-062/produce*, MDR-*/exchange/stop"
    assert fault.matches_requirement("MDR-5.3/exchange/stop") and not fault.matches_requirement("MDR-5.3/exchange/x")
    assert fault.may_fail("MDR-5.3/exchange/reject") and fault.fill("{block} of {interface}") == "R0 of IF-062"


@pytest.mark.parametrize("extra, message", [
    ('[[fault.case]]\nrole = "XYZ"\nargs = ["IF-061", "M0"]\n', "role should be a role the switch applies to"),
    ('[[fault.case]]\nrole = "SDS"\nargs = ["IF-061"]\n', "key 'args' should give the 2 argument(s) interface, block"),
    ('[[fault.case]]\nrole = "SDS"\nargs = ["IF-061", "M0"]\ncolour = 1\n', "unknown key 'colour'"),
    ('[[fault.case]]\nrole = "SDS"\nargs = ["IF-061", "M0"]\nrequirement = 3\n', "key 'requirement' should be"),
    ('[[fault.case]]\nrole = "SDS"\nargs = ["IF-061", "M0"]\n[[fault.case]]\nrole = "SDS"\nargs = ["a", "b"]\n',
     "two [[fault.case]] tables for one role"),
])
def test_bad_cases_are_one_line_config_errors(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        load(tmp_path, extra)
    assert "faults.toml: fault[0]" in str(info.value) and "\n" not in str(info.value)


def test_an_empty_requirement_list_is_refused(tmp_path):
    path = tmp_path / "faults.toml"
    path.write_text(BASE.replace('requirement = ["{role}-*/{interface}/produce*", "{role}-*/exchange/stop"]',
                                 "requirement = []"), encoding="utf-8")
    with pytest.raises(ConfigError, match="key 'requirement' should be a requirement glob or a list of them"):
        load_faults(path)


def test_every_parametrised_switch_has_a_case_for_each_role_it_applies_to():
    for d in load_faults():
        for role in ("MDR", "SDS"):
            if d.applies_to(role) and d.params:
                assert len(d.case_for(role).args) == len(d.params), (d.name, role)
