"""The dipcert pytest plugin: options shared by the certification scenarios (scenarios/).

Registered through the `pytest11` entry point, so `pytest scenarios --dipcert-profile my.toml`
works wherever dipcert is installed. Fixtures and verdict hooks build on these options.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dipcert", "dipcert certification")
    group.addoption("--dipcert-profile", default=None, help="participant profile (TOML)")
    group.addoption("--dipcert-out", default=None, help="folder for the evidence bundle")
    group.addoption("--spec", dest="dipcert_spec", default=None,
                    help="folder with Elexon's DIP API specification (unresolved YAML)")
