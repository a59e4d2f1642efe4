"""dipcert's own pytest wiring, for every pytest run from this checkout.

- rootdir is this folder (pyproject.toml holds `[tool.pytest.ini_options]`). `pytest` alone runs
  `tests/` (dipcert's own tests: is the harness right?); `pytest scenarios --dipcert-profile FILE`
  certifies a participant (scenarios/README.md). Installed from a wheel, the same scenarios are the
  package `dipcert_scenarios`: `pytest --pyargs dipcert_scenarios --dipcert-profile FILE`.
- The plugin (`harness.plugin`) is registered by the `pytest11` entry point wherever dipcert is
  installed, `pip install -e .` included. It is registered here too when it was not (the checkout
  on PYTHONPATH without an install, or PYTEST_DISABLE_PLUGIN_AUTOLOAD=1), so the route above works
  either way, and never twice: the entry point has imported the module by the time pytest reads
  this file.
- Folders of the checkout that hold no tests are never collected, whatever `pytest PATH` is given.
"""

from __future__ import annotations

import sys

pytest_plugins = [] if "harness.plugin" in sys.modules else ["harness.plugin"]

collect_ignore = ["bench", "fixtures", "reports", "schemas", "docs", "build", "dist", "mutants"]
