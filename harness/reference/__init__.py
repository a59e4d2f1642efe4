"""Reference MDR and SDS participants: the harness's happy path and, with fault switches, its
negative controls. See `participant.ReferenceParticipant` and `faults.toml`."""

# -- public face (what other layers use; tests/test_architecture.py keeps it complete) --
from harness.reference.faults import load_faults, parse_faults
from harness.reference.participant import ReferenceParticipant

__all__ = [
    "ReferenceParticipant", "load_faults", "parse_faults",
]
