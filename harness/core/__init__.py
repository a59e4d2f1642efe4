"""The foundation every layer uses: errors and exit codes, findings, file reading, data paths, the
interface catalogue."""

# -- public face (what other layers use; tests/test_architecture.py keeps it complete) --
from harness.core.catalogue import CERTIFIED_ROLES, Catalogue, Direction, Event, Interface, load_catalogue
from harness.core.errors import ConfigError, DipcertError, InputError, Terminated, UsageError
from harness.core.files import output_folder, read_config_bytes, read_toml
from harness.core.findings import Finding, short
from harness.core.outcomes import ExitCode, Verdict
from harness.core.paths import scenarios_dir, schemas_dir

__all__ = [
    "CERTIFIED_ROLES", "Catalogue", "ConfigError", "DipcertError", "Direction", "Event", "ExitCode", "Finding",
    "InputError", "Interface", "Terminated", "UsageError", "Verdict", "load_catalogue", "output_folder",
    "read_config_bytes", "read_toml", "scenarios_dir", "schemas_dir", "short",
]
