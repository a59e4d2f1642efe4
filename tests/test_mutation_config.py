"""The mutation run's configuration is valid (the run itself is `python bench/mutation.py`, not a test).

pyproject's [tool.mutmut] must mutate every verdict-deciding module and select only fast unit tests
that exist; every equivalent mutant bench/mutation_equivalents.toml excludes must name a real
module, function and line, with a reason.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import tomllib
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The modules whose code decides a verdict (after issues 12, 13 and 14 split them): the message rules,
# identifiers, request signatures, the bundle check and its origin and reuse chain, the business rules,
# the replay watch, and (issue 15) the judges: every consume, produce and exchange verdict as a pure
# function of DIP transcript records. harness/judges/attacks.py only describes the hostile deliveries
# (their names and what a webhook must do): it decides no verdict, so it is not mutated.
DESCRIPTIVE = {"harness/judges/attacks.py"}
VERDICT_MODULES = {*(f"harness/messages/checks/{name}.py" for name in (
                       "__init__", "base", "body", "content", "mpan", "periods", "sender", "transaction")),
                   "harness/messages/ids.py", "harness/transport/signing.py",
                   "harness/evidence/checker.py", "harness/evidence/origin.py", "harness/evidence/earlier.py",
                   "harness/evidence/revalidate.py",
                   "harness/messages/business.py", "harness/run/replay.py",
                   *(f"harness/judges/{name}.py" for name in (
                       "__init__", "registry", "records", "delivery", "consume", "produce", "exchange"))}
SLOW = {"tests/test_run.py", "tests/test_reference.py", "tests/test_exchange.py", "tests/test_reuse.py",
        "tests/test_real_partner.py", "tests/test_cli_verify.py", "tests/test_strategies.py",
        "tests/test_verify_trust.py", "tests/test_verify_hostile.py", "tests/test_report_browser.py"}


def config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["mutmut"]


@lru_cache(maxsize=1)
def bench():
    """bench/mutation.py as a module (bench/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("bench_mutation", ROOT / "bench" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def functions(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text("utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {f"{node.name}.{f.name}" for f in node.body
                      if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return names


def test_every_verdict_module_is_mutated_and_only_fast_tests_that_exist_run() -> None:
    cfg = config()
    assert set(cfg["only_mutate"]) == VERDICT_MODULES
    assert {str(p.relative_to(ROOT)) for p in (ROOT / "harness/messages/checks").glob("*.py")} <= VERDICT_MODULES
    assert {str(p.relative_to(ROOT)) for p in (ROOT / "harness/judges").glob("*.py")} - DESCRIPTIVE <= VERDICT_MODULES
    assert all((ROOT / m).is_file() for m in cfg["only_mutate"])
    assert cfg["source_paths"] == ["harness"] and all((ROOT / p).exists() for p in cfg["also_copy"])
    selected = cfg["pytest_add_cli_args_test_selection"]
    assert selected and all((ROOT / t).is_file() for t in selected), selected
    assert not SLOW & set(selected)
    assert bench().modules() == cfg["only_mutate"]


def test_every_excluded_equivalent_names_a_real_line_and_says_why() -> None:
    equivalents = bench().load_equivalents()
    for e in equivalents:
        assert e.module in VERDICT_MODULES, e
        path = ROOT / e.module
        assert e.function in functions(path), e
        source = {line.strip() for line in path.read_text("utf-8").splitlines()}
        assert all(part in source for part in e.before.split(" / ")), e
        assert e.after != e.before and len(e.why) > 20, e
    assert len({(e.module, e.function, e.before, e.after) for e in equivalents}) == len(equivalents)


def test_the_score_reader_takes_the_mutated_lines_from_a_diff() -> None:
    diff = "--- a\n+++ a\n@@ -1,3 +1,3 @@\n def f():\n-    return x > 1\n+    return x >= 1\n"
    assert bench().change_of(diff) == ("return x > 1", "return x >= 1")
