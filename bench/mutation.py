"""Mutation score of the verdict-deciding modules: does a bug put into a check make a test fail?

Run from the repository, with the `mutation` extra installed (`pip install -e '.[test,mutation]'`):

    python bench/mutation.py                    # mutmut run, then the score per module
    python bench/mutation.py --survivors        # ... and the diff of every surviving mutant
    python bench/mutation.py --no-run           # the score of the last run (mutants/ is kept)
    python bench/mutation.py harness.messages.business   # only the mutants of some modules (mutmut globs)

mutmut ([tool.mutmut] in pyproject.toml) copies the package to `mutants/`, mutates one function at a
time and runs, for each mutant, only the selected fast unit tests that call that function. A mutant
is *killed* when a test fails (or hangs past mutmut's timeout); it *survives* when every test still
passes, and a mutant no selected test reaches counts as a survivor too. Mutants listed in
`bench/mutation_equivalents.toml` behave exactly as the original (no test could tell them apart)
and are left out of the score, each with the reason. Not part of the test suite: a full run (about
9,100 mutants) takes over an hour on 2 cores; name modules to run part of it. Exit status 1 when
a module scores below the goal (90%).

mutmut remembers which tests reach a function by test id: give parametrized killer tests explicit ids
(`pytest.param(..., id=...)`), or re-run the module after inserting a case, since a shifted automatic
id leaves a mutant its test would kill counted as a survivor.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENTS = ROOT / "bench" / "mutation_equivalents.toml"
GOAL = 0.90
KILLED = {1, 3, 36, 37, -24, 24, 152, 255}  # test failure, pytest error, timeout, type check
NOT_REACHED = {5, 33}  # no selected test calls the function: a survivor by another name
UNCHECKED = {None, 2}  # the run stopped before this mutant (or was interrupted): not in the score


@dataclass(frozen=True)
class Equivalent:
    module: str
    function: str
    before: str
    after: str
    why: str

    def matches(self, module: str, function: str, change: tuple[str, str]) -> bool:
        return (self.module, self.function, self.before, self.after) == (module, function, *change)


def mutmut_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["mutmut"]


def modules() -> list[str]:
    """The mutated files, as pyproject's [tool.mutmut].only_mutate lists them."""
    return list(mutmut_config()["only_mutate"])


def load_equivalents(path: Path = EQUIVALENTS) -> list[Equivalent]:
    data = tomllib.loads(path.read_text("utf-8"))
    return [Equivalent(e["module"], e["function"], e["before"], e["after"], e["why"])
            for e in data.get("equivalent", [])]


def change_of(diff: str) -> tuple[str, str]:
    """The mutated line(s) of a unified diff, before and after, whitespace-trimmed."""
    removed = [line[1:].strip() for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return " / ".join(removed), " / ".join(added)


def function_of(mutant: str) -> str:
    """`harness.x.xǁ_VerifierǁsignatureǁV__mutmut_3` -> `_Verifier.signature`; `x_f__mutmut_1` -> `f`."""
    from mutmut.utils.format_utils import parse_mutant_key

    key = mutant.rpartition(".")[2].split("__mutmut_")[0]
    name, cls = parse_mutant_key(key)
    return f"{cls}.{name}" if cls else name


@dataclass
class Outcome:
    module: str
    mutant: str
    function: str
    status: str  # killed, survived, not-reached, excluded, unchecked
    change: tuple[str, str]
    diff: str
    why: str = ""


def outcomes(equivalents: list[Equivalent]) -> list[Outcome]:
    """Every mutant of the last run with its status, read from mutmut's files in mutants/."""
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    found: list[Outcome] = []
    os.chdir(ROOT)
    for module in modules():
        data = SourceFileMutationData(path=Path(module))
        data.load()
        for mutant, code in sorted(data.exit_code_by_key.items(), key=lambda kv: _natural(kv[0])):
            diff = get_diff_for_mutant(mutant, path=Path(module))
            change, function = change_of(diff), function_of(mutant)
            match = next((e for e in equivalents if e.matches(module, function, change)), None)
            if match is not None:
                status, why = "excluded", match.why
            elif code in KILLED:
                status, why = "killed", ""
            elif code in NOT_REACHED:
                status, why = "not-reached", ""
            elif code in UNCHECKED:
                status, why = "unchecked", ""
            else:
                status, why = "survived", ""
            found.append(Outcome(module, mutant, function, status, change, diff, why))
    return found


def _natural(name: str) -> tuple[str, int]:
    head, _, number = name.rpartition("__mutmut_")
    return head, int(number) if number.isdigit() else 0


def score_table(found: list[Outcome]) -> list[tuple[str, Counter, float]]:
    rows = []
    for module in modules():
        counts = Counter(o.status for o in found if o.module == module)
        counted = counts["killed"] + counts["survived"] + counts["not-reached"]
        rows.append((module, counts, counts["killed"] / counted if counted else 1.0))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mutants", nargs="*", help="mutmut mutant-name globs, e.g. 'harness.messages.business*'")
    parser.add_argument("--no-run", action="store_true", help="report the last run only")
    parser.add_argument("--survivors", action="store_true", help="print the diff of every surviving mutant")
    parser.add_argument("--excluded", action="store_true", help="print the excluded equivalent mutants")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    equivalents = load_equivalents()
    if not args.no_run:
        command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children), *args.mutants]
        print("$", " ".join(command[1:]), flush=True)
        run = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL)
        if run.returncode != 0:
            print(f"mutmut run failed (exit {run.returncode}); run it directly to see why", file=sys.stderr)
            return 2
    found = outcomes(equivalents)
    unmatched = [e for e in equivalents
                 if not any(o.status == "excluded" and e.matches(o.module, o.function, o.change) for o in found)]
    if args.survivors or args.excluded:
        wanted = {"survived", "not-reached"} if args.survivors else set()
        wanted |= {"excluded"} if args.excluded else set()
        for o in found:
            if o.status in wanted:
                print(f"\n# {o.mutant} ({o.status}{': ' + o.why if o.why else ''})\n{o.diff}")
    print(f"\n{'module':40} {'mutants':>7} {'killed':>6} {'survived':>8} {'unreached':>9} {'excluded':>8}"
          f" {'unchecked':>9}  score")
    low, partial = [], []
    for module, counts, score in score_table(found):
        print(f"{module:40} {sum(counts.values()):7} {counts['killed']:6} {counts['survived']:8} "
              f"{counts['not-reached']:9} {counts['excluded']:8} {counts['unchecked']:9}  {score:6.1%}")
        if score < GOAL:
            low.append(module)
        if counts["unchecked"]:
            partial.append(module)
    if partial:
        print(f"\nthe run did not check every mutant of {', '.join(partial)}: their scores are partial "
              "(run again to finish; mutmut keeps what it has checked)")
    if unmatched:
        print(f"\n{len(unmatched)} listed equivalent mutant(s) no longer match a mutant (the code changed?): "
              + "; ".join(f"{e.module} {e.function}: {e.after}" for e in unmatched))
    if low:
        print(f"\nbelow the goal of {GOAL:.0%} of non-equivalent mutants killed: {', '.join(low)}")
    return 1 if low or partial else 0


if __name__ == "__main__":
    sys.exit(main())
