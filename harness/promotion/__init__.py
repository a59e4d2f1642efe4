"""Promotion to production (guidance 5.5 / 6.5): the step after certification in UIT.

"Once the message exchanges have been certified in UIT, the corresponding configuration can be
promoted to production." dipcert sends no business message for it. It compares the production
profile with the configuration the certification bundle recorded (`differences`), checks that the
production configuration is usable (`production`: credentials, certificates against the CA the DIP
Manager trusts, webhooks over TLS), and writes a signed promotion record naming the bundle by hash
(`record`), which `dipcert verify --promotion` checks again with its bundle (`check`).
"""

# -- public face (what other layers use; tests/test_architecture.py keeps it complete) --
from harness.promotion.check import check_promotion

__all__ = [
    "check_promotion",
]
