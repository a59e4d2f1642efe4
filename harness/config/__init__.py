"""What a participant declares and what the harness reads as data: the profile, the system fingerprint,
the exchange definitions."""
