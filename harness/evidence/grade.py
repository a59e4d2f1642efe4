"""The evidence grade: what a passing bundle can prove, recomputed from the run-start record alone.

"Ready" says every enabled requirement passed; the grade says whether that is certification
evidence (DESIGN.md section 7). Levels, weakest first:

- `rehearsal`: an exchange (guidance 5.3/6.3) ran with dipcert's built-in reference partner in
  place of the nominated partner: it shows the party can exchange, not that it did so with the
  partner the guidance requires;
- `self-test`: the DIP was simulated by dipcert on the party's own machine (its key held by the
  party): the party could have shaped everything the bundle records;
- `certification`: reserved for a bundle carrying a transcript signed by a DIP the verifier trusts
  (issue 15); nothing here grants it.

`summary.json` and the report header carry the grade; `verify` recomputes it with the same function
and flags a summary that claims more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

LEVELS = ("rehearsal", "self-test", "certification")  # weakest first


def evidence_grade(run: Mapping[str, Any], planned: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """`{"level", "reasons", "nominated_partner"}` for a run-start `run` dict and its recorded plan."""
    reasons: list[str] = []
    level = "self-test"
    partner = run.get("partner") if isinstance(run.get("partner"), Mapping) else None
    exchanges = [p for p in planned if p.get("kind") == "exchange" and p.get("enabled")]
    nominated = None
    if partner is not None:
        nominated = {"role": partner.get("role"), "company": partner.get("company"), "dip_id": partner.get("dip_id"),
                     "mpid": partner.get("mpid")}
    if partner is not None and partner.get("kind") == "reference" and exchanges:
        level = "rehearsal"
        who = ", ".join(str(v) for v in (partner.get("company"), f"DIP ID {partner.get('dip_id')}") if v)
        reasons.append(f"the exchanges (guidance 5.3/6.3) ran with dipcert's built-in reference "
                       f"{partner.get('role') or 'partner'} standing in for the nominated partner ({who}): a "
                       f"rehearsal, not certification evidence for the exchange")
    reasons.append("the DIP was simulated by dipcert in this run, its signing key held by the party: at best "
                   "self-test evidence (certification needs a transcript signed by a DIP the verifier trusts)")
    return {"level": level, "reasons": reasons, "nominated_partner": nominated}


def rank(level: Any) -> int:
    """Position in LEVELS; an unknown level ranks above every known one (so it counts as overstated)."""
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)


def overstates(claimed: Any, computed: str) -> bool:
    return rank(claimed) > rank(computed)
