"""Reference MDR and SDS participants: the harness's happy path and, with fault switches, its
negative controls. See `participant.ReferenceParticipant` and `faults.toml`."""
