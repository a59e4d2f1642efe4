"""Where the harness's data lives, whether installed from a wheel or run from the repository.

The repository keeps `schemas/` and `scenarios/` at the top level (ARCHITECTURE.md); a wheel carries the
schemas inside the package as `harness/_data/schemas` and the scenarios as the importable package
`dipcert_scenarios` (so `pytest --pyargs dipcert_scenarios` collects them). Everything that reads
data asks here, so the two layouts never leak into the rest of the code.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # harness/ (this module is harness/core/paths.py)


SCENARIOS_PACKAGE = "dipcert_scenarios"  # the scenarios' name in a wheel (pyproject.toml force-include)


def _data_dir(name: str, installed: str | None = None) -> Path:
    for candidate in (_PACKAGE / "_data" / name, *((_PACKAGE.parent / installed,) if installed else ()),
                      _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"dipcert data folder {name!r} is missing from the installation")


def schemas_dir() -> Path:
    """The bundled schema pack and catalogue."""
    return _data_dir("schemas")


def scenarios_dir() -> Path:
    """The certification test plan (pytest modules and exchange definitions)."""
    return _data_dir("scenarios", installed=SCENARIOS_PACKAGE)


def default_spec_dir() -> Path | None:
    """Elexon's specification next to the repository (`../shared/elexon-dip-api`), if present.

    Only tests and contributors use this; users pass `--spec DIR` explicitly.
    """
    candidate = _PACKAGE.parent.parent / "shared" / "elexon-dip-api"
    return candidate if (candidate / "Interfaces-EventCodes-unresolved.yaml").is_file() else None
