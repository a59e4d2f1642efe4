"""Evidence: the recorder that writes a run as it happens, the signed bundle, and verify.

`recorder` appends hash-chained records to `evidence.jsonl`; `bundle` seals and signs the folder;
`checker` (and `verify`) re-derive every verdict from the bundle alone, so the DIP Manager needs
nothing but the bundle, the DIP's certificate and the trust anchor.
"""
