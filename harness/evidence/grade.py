"""The evidence grade: what a passing bundle can prove, recomputed from the run-start record alone.

"Ready" says every enabled requirement passed; the grade says whether that is certification
evidence (ARCHITECTURE.md, "Trust"). Levels, weakest first:

- `rehearsal`: an exchange (guidance 5.3/6.3) ran with dipcert's built-in reference partner in
  place of the nominated partner: it shows the party can exchange, not that it did so with the
  partner the guidance requires; or the party under test was itself dipcert's reference
  participant (`[party] endpoint = "reference"`): the bundle then proves the harness, not a system;
- `self-test`: the DIP was run by the party (embedded in its run, or a DIP whose signing key the
  verifier does not trust): the party could have shaped everything the bundle records;
- `certification`: the bundle carries the DIP's transcript of the run's session, signed by a DIP key
  the verifier trusts (`verify --dip-cert`), every verdict judged again from it agrees, and the
  exchanges ran with the nominated (real) partner, as the DIP's session names it.

The run itself never claims `certification` (only the verifier holds the DIP certificate it trusts);
`summary.json` and the report header carry the grade the run can state, and `verify` recomputes it
with the same function (given the transcript check) and flags a summary that claims more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

LEVELS = ("rehearsal", "self-test", "certification")  # weakest first


def evidence_grade(run: Mapping[str, Any], planned: Sequence[Mapping[str, Any]],
                   transcript: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`{"level", "reasons", "nominated_partner"}` for a run-start `run` dict and its recorded plan.

    `transcript`: verify's check of the DIP's transcript (`TranscriptResult.to_dict()`: `verified`,
    `signed_by`, `partner`), None for the run's own statement.
    """
    reasons: list[str] = []
    level = "self-test"
    partner = got if isinstance(got := run.get("partner"), Mapping) else None
    dip = got if isinstance(got := run.get("dip"), Mapping) else {}
    exchanges = [p for p in planned if p.get("kind") == "exchange" and p.get("enabled")]
    nominated = None
    if partner is not None:
        nominated = {"role": partner.get("role"), "company": partner.get("company"), "dip_id": partner.get("dip_id"),
                     "mpid": partner.get("mpid")}
    rehearsal = partner is not None and partner.get("kind") == "reference" and bool(exchanges)
    if rehearsal:
        assert partner is not None
        level = "rehearsal"
        who = ", ".join(str(v) for v in (partner.get("company"), f"DIP ID {partner.get('dip_id')}") if v)
        reasons.append(f"the exchanges (guidance 5.3/6.3) ran with dipcert's built-in reference "
                       f"{partner.get('role') or 'partner'} standing in for the nominated partner ({who}): a "
                       f"rehearsal, not certification evidence for the exchange")
    profile = got if isinstance(got := run.get("profile"), Mapping) else {}
    party = got if isinstance(got := profile.get("party"), Mapping) else {}
    if party.get("endpoint") == "reference":
        level = "rehearsal"
        rehearsal = True
        reasons.append("the party under test was dipcert's own reference participant (profile party.endpoint = "
                       "\"reference\"), started by the harness with a certificate and API keys made for the run: "
                       "a rehearsal of the harness, evidence about no participant's system")
    remote = dip.get("kind") == "remote"
    if not remote:
        reasons.append("the DIP was simulated by dipcert on the party's own machine (embedded in the run, its signing "
                       "key held by the party): at best self-test evidence (certification needs a transcript signed "
                       "by a DIP the verifier trusts)")
    elif transcript is None:
        reasons.append(f"the run went through the DIP at {dip.get('url')} ({dip.get('fingerprint')}): certification "
                       f"grade only once `dipcert verify --dip-cert` checks its signed transcript")
    elif not transcript.get("verified"):
        reasons.append("the DIP's transcript in the bundle is missing, not signed by a DIP certificate the verifier "
                       "trusts, or contradicts the party's evidence: self-test evidence at best")
    elif exchanges and (partner is None or partner.get("kind") != "real"
                        or transcript.get("partner") != partner.get("dip_id")):
        reasons.append("the DIP's session does not name the nominated real partner the exchanges ran with: the "
                       "exchanges are not certification evidence")
    elif not rehearsal:
        level = "certification"
        reasons.append(f"the DIP ({transcript.get('signed_by')}) countersigned the run's transcript, every verdict "
                       f"judged again on it agrees" + (f", and the exchanges ran with the nominated partner "
                                                       f"{partner.get('dip_id')}" if exchanges and partner else ""))
    return {"level": level, "reasons": reasons, "nominated_partner": nominated}


def rank(level: Any) -> int:
    """Position in LEVELS; an unknown level ranks above every known one (so it counts as overstated)."""
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)


def overstates(claimed: Any, computed: str) -> bool:
    return rank(claimed) > rank(computed)
