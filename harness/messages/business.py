"""Business rules of the paired SDS-MDR exchange, on top of schema validity.

Each rule is a pure function over wire items (one `{"payload": ...}` each) that returns findings;
the exchange runner (`harness.run.exchange`) decides which messages to compare and records the
outcome. Rules read defensively: a missing or mistyped field is the schema's finding, so a rule
skips what it cannot read rather than raising.

The settlement-period rules `periods.count`, `periods.sequence` and `periods.utc` live in
`harness.messages.checks` (they also run on every message the hub accepts) and are reused here,
not repeated. How a response is tied to its request (assumption A-CORRELATION) is one object,
`CorrelationRule`, read from the catalogue's optional `[correlation]` table.

Rule ids (a contract with `harness/reference/faults.toml` and the scenarios):
`exchange.correlation`, `exchange.echo`, `exchange.accept`, `exchange.reject`,
`exchange.measurement-quantity`, `exchange.before-start`, `exchange.after-stop`,
`periods.count`, `periods.sequence`, `periods.utc`, `periods.duration`, `periods.quantity`,
`consumption.complete-days`, `environment.tag`, `exchange.reply`; the runner adds
`exchange.timeout`, `exchange.request`, `exchange.delivery` and `exchange.vacuous`.

A rule the specification does not state rests on a catalogue assumption (its `rules` list, e.g.
`periods.count` on A-PERIODS-48): `provisional` marks such findings with the assumption's id, so a
report shows the verdict as provisional and a reviewer sees what to challenge.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from harness.core.catalogue import Catalogue, load_catalogue
from harness.core.errors import ConfigError
from harness.core.files import read_toml
from harness.core.findings import Finding, short
from harness.messages import checks
from harness.messages.access import dig
from harness.messages.ids import parse_dip_timestamp

PERIOD_DURATION = 30  # minutes; B046.periodDuration (the schema pins min = max = 30)
QUANTITY_PATTERN = re.compile(r"-?[0-9]{1,9}\.[0-9]{3}")  # 9.3 decimal kWh string (B084.v), fullmatch only
# B078.energyDirection -> the active-energy B045.measurementQuantityID an IF-064 must carry.
QUANTITY_FOR_DIRECTION = {"I": "AI", "E": "AE"}

Path = tuple[str, ...]


# --- describing a message -------------------------------------------------------------------------

def ptr(index: int, *parts: object) -> str:
    """JSON pointer into the wire body for item `index`: `/0/payload/CommonBlock/M0/MPANCore`."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in (index, "payload", *parts))


def message_label(item: Any) -> str:
    """`IF-064 [MDRConsumption] S1.senderUniqueReference=S-IF-064-...`: names one message in a finding."""
    common = dig(item, "payload", "CommonBlock")
    interface = dig(common, "S0", "interfaceID")
    code = dig(common, "S0", "eventCode")
    sur = dig(common, "S1", "senderUniqueReference")
    return f"{interface or 'IF-?'} {code or '[?]'} S1.senderUniqueReference={sur or '?'}"


def labelled(findings: list[Finding], item: Any, **extra: Any) -> list[Finding]:
    """Findings whose message starts with the message's label (for findings made elsewhere)."""
    label = message_label(item)
    return [dataclasses.replace(f, message=f.message if f.message.startswith(label) else f"{label}: {f.message}",
                                extra={**f.extra, **extra})
            for f in findings]


def _finding(rule: str, item: Any, path: str, expected: Any, actual: Any, text: str) -> Finding:
    return Finding(rule, path, str(expected), short(actual), f"{message_label(item)}: {text}")


def mpan_of(item: Any) -> str | None:
    value = dig(item, "payload", "CommonBlock", "M0", "MPANCore")
    return value if isinstance(value, str) else None


def day_of(stamp: Any) -> date | None:
    """The calendar date of a DT-003 timestamp as written (in its own offset), None if unreadable."""
    try:
        return parse_dip_timestamp(stamp).date()
    except (ValueError, TypeError):
        return None


def provisional(findings: list[Finding], catalogue: Catalogue | None = None) -> list[Finding]:
    """Findings whose rule rests on a catalogue assumption, marked with it (`extra.assumption`)."""
    catalogue = catalogue or load_catalogue()
    out = []
    for f in findings:
        assumption = catalogue.assumption_for_rule(f.rule)
        if assumption is None or f.extra.get("assumption") == assumption:
            out.append(f)
            continue
        out.append(dataclasses.replace(f, message=f"{f.message} (provisional: rests on assumption {assumption})",
                                       extra={**f.extra, "assumption": assumption}))
    return out


def check_environment(item: Any, environment: str, *, index: int = 0) -> list[Finding]:
    """`environment.tag`: S1.environmentTag is the run's environment (a PRD tag in a UIT run is wrong)."""
    tag = dig(item, "payload", "CommonBlock", "S1", "environmentTag")
    if not isinstance(tag, str) or tag == environment:
        return []  # a missing or mistyped tag is the schema's finding
    return [_finding("environment.tag", item, ptr(index, "CommonBlock", "S1", "environmentTag"), environment, tag,
                     f"S1.environmentTag is {tag} in a {environment} run; every message must carry the "
                     f"environment it is sent in ({environment})")]


# --- replies (StandardResponse entries naming what they answer) -------------------------------------

def check_reply(entries: Sequence[Any], expected: Sequence[Mapping[str, Any]], *, where: str = "reply",
                rule: str = "exchange.reply") -> list[Finding]:
    """Each StandardResponse entry names the message it answers, in order.

    `expected[i]` holds the delivered message's `transactionID` (D0, required in the answer) and its
    `senderUniqueReference` and `correlationID` (compared only when the entry gives one: both are
    nullable in StandardResponseBodyType). An answer naming another message is an answer to the
    wrong message, whatever its code says.
    """
    findings = []
    for i, want in enumerate(expected):
        entry = entries[i] if i < len(entries) and isinstance(entries[i], Mapping) else None
        if entry is None:
            continue  # a missing entry is the StandardResponse's own finding (response.count)
        base = f"/messageArray/{i}"
        tx = want.get("transactionID")
        if tx is not None and entry.get("transactionID") != tx:
            findings.append(Finding(rule, f"{base}/transactionID", str(tx), short(entry.get("transactionID")),
                                    f"{where}: entry {i} names transactionID {short(entry.get('transactionID'))}, "
                                    f"not the delivered message's {tx}"))
        for key in ("senderUniqueReference", "correlationID"):
            got, wanted = entry.get(key), want.get(key)
            if got is not None and wanted is not None and got != wanted:
                findings.append(Finding(rule, f"{base}/{key}", str(wanted), short(got),
                                        f"{where}: entry {i} names {key} {short(got)}, not the delivered "
                                        f"message's {wanted}"))
    return findings


def reply_keys(item: Any) -> dict[str, Any]:
    """What a StandardResponse entry answering this delivered (egress) message must name."""
    common = dig(item, "payload", "CommonBlock")
    correlation = dig(common, "S1", "senderCorrelationID") or dig(common, "D0", "initialCorrelationID")
    return {"transactionID": dig(common, "D0", "transactionID"),
            "senderUniqueReference": dig(common, "S1", "senderUniqueReference"),
            "correlationID": correlation if isinstance(correlation, str) else None}


# --- correlation (A-CORRELATION) --------------------------------------------------------------------

@dataclass(frozen=True)
class CorrelationRule:
    """How a response is tied to its request: the one place the A-CORRELATION assumption lives.

    `request_fields`: where the request's correlation id is read, first non-empty wins;
    `response_field`: where the response must carry it; `fallback`: when the ids differ, a response
    still *matches* its request on MPAN (and B019.assignedMDRDIPID where both have it), so that a
    missing id is reported as `exchange.correlation` rather than as a timeout; `required`: whether
    a response without the id is a finding at all.
    """

    assumption: str = "A-CORRELATION"
    request_fields: tuple[Path, ...] = (("CommonBlock", "S1", "senderCorrelationID"),
                                        ("CommonBlock", "D0", "initialCorrelationID"))
    response_field: Path = ("CommonBlock", "S1", "senderCorrelationID")
    fallback: bool = True
    required: bool = True

    def request_id(self, request: Any) -> str | None:
        for path in self.request_fields:
            value = dig(request, "payload", *path)
            if isinstance(value, str) and value:
                return value
        return None

    def response_id(self, response: Any) -> Any:
        return dig(response, "payload", *self.response_field)

    def matches(self, request: Any, response: Any) -> bool:
        """Is `response` an answer to `request`? (Used to find it among the hub's messages.)"""
        if mpan_of(request) is None or mpan_of(request) != mpan_of(response):
            return False
        wanted = self.request_id(request)
        if wanted is not None and self.response_id(response) == wanted:
            return True
        if not self.fallback and wanted is not None:
            return False
        mdr_req = dig(request, "payload", "CustomBlock", "B019", "assignedMDRDIPID")
        mdr_resp = dig(response, "payload", "CustomBlock", "B019", "assignedMDRDIPID")
        return mdr_req is None or mdr_resp is None or mdr_req == mdr_resp


_CORRELATION_KEYS = {"assumption", "request_fields", "response_field", "fallback", "required"}


def _field_path(value: Any, where: str) -> Path:
    if not isinstance(value, str) or not re.fullmatch(r"(CommonBlock|CustomBlock)(\.[A-Za-z0-9]+)+", value):
        raise ConfigError(f"{where} should be a dotted field like 'CommonBlock.S1.senderCorrelationID', got {value!r}")
    return tuple(value.split("."))


def parse_correlation(table: Any, source: str) -> CorrelationRule:
    """A `[correlation]` table -> CorrelationRule; one-line ConfigError naming the key otherwise."""
    where = f"{source}: [correlation]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} should be a table")
    unknown = sorted(set(table) - _CORRELATION_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (expected: {', '.join(sorted(_CORRELATION_KEYS))})")
    rule = CorrelationRule()
    changes: dict[str, Any] = {}
    if "assumption" in table:
        if not isinstance(table["assumption"], str):
            raise ConfigError(f"{where}.assumption should be a string")
        changes["assumption"] = table["assumption"]
    if "request_fields" in table:
        fields = table["request_fields"]
        if not isinstance(fields, list) or not fields:
            raise ConfigError(f"{where}.request_fields should be a non-empty list of dotted fields")
        changes["request_fields"] = tuple(_field_path(f, f"{where}.request_fields") for f in fields)
    if "response_field" in table:
        changes["response_field"] = _field_path(table["response_field"], f"{where}.response_field")
    for key in ("fallback", "required"):
        if key in table:
            if not isinstance(table[key], bool):
                raise ConfigError(f"{where}.{key} should be true or false, got {table[key]!r}")
            changes[key] = table[key]
    return dataclasses.replace(rule, **changes)


def correlation_rule(catalogue: Catalogue | None = None) -> CorrelationRule:
    """The catalogue's `[correlation]` table (defaults: A-CORRELATION as the domain brief proposes)."""
    if catalogue is None:
        return _default_rule()
    data = read_toml(catalogue.source, "catalogue file")
    rule = parse_correlation(data["correlation"], str(catalogue.source)) if "correlation" in data else CorrelationRule()
    if catalogue.assumptions and rule.assumption not in catalogue.assumptions:
        raise ConfigError(f"{catalogue.source}: [correlation].assumption {rule.assumption!r} "
                          "is not an [[assumption]] id")
    return rule


@lru_cache(maxsize=1)
def _default_rule() -> CorrelationRule:
    return correlation_rule(load_catalogue())


def check_correlation(request: Any, response: Any, *, index: int = 0, rule: CorrelationRule | None = None,
                      others: Mapping[str, str] | None = None) -> list[Finding]:
    """`exchange.correlation`: same MPAN, same assigned MDR (B019), the request's correlation id carried.

    `others` maps the correlation ids of the exchange's other requests to how to name them, so that an
    answer to the wrong request says which request it answers instead.
    """
    rule = rule or correlation_rule()
    findings = []
    want_mpan, got_mpan = mpan_of(request), mpan_of(response)
    if want_mpan is not None and got_mpan != want_mpan:
        findings.append(_finding("exchange.correlation", response, ptr(index, "CommonBlock", "M0", "MPANCore"),
                                 want_mpan, got_mpan, f"answers a request for MPAN {want_mpan} with MPAN {got_mpan}"))
    want_mdr = dig(request, "payload", "CustomBlock", "B019", "assignedMDRDIPID")
    got_mdr = dig(response, "payload", "CustomBlock", "B019", "assignedMDRDIPID")
    if isinstance(want_mdr, str) and got_mdr is not None and got_mdr != want_mdr:
        findings.append(_finding("exchange.correlation", response,
                                 ptr(index, "CustomBlock", "B019", "assignedMDRDIPID"), want_mdr, got_mdr,
                                 f"B019.assignedMDRDIPID {got_mdr} differs from the request's {want_mdr}"))
    wanted = rule.request_id(request)
    got = rule.response_id(response)
    if rule.required and wanted is not None and got != wanted:
        field = ".".join(rule.response_field[1:])
        other = (others or {}).get(got) if isinstance(got, str) else None
        text = (f"answers another message: {field} is {got}, the correlation id of {other}, not of "
                f"{message_label(request)} ({wanted})" if other else
                f"{field} is {short(got)}, expected the request's correlation id {wanted}")
        findings.append(_finding("exchange.correlation", response, ptr(index, *rule.response_field), wanted, got,
                                 f"{text} ({rule.assumption})"))
    return findings


# --- IF-062 -----------------------------------------------------------------------------------------

def check_echo(request: Any, response: Any, *, index: int = 0) -> list[Finding]:
    """`exchange.echo`: IF-062 repeats every CustomBlock block of the IF-061 it answers, unchanged."""
    sent = dig(request, "payload", "CustomBlock")
    got = dig(response, "payload", "CustomBlock")
    if not isinstance(sent, dict):
        return []
    got = got if isinstance(got, dict) else {}
    findings = []
    for block, value in sent.items():
        if block not in got:
            findings.append(_finding("exchange.echo", response, ptr(index, "CustomBlock", block),
                                     f"{block} as requested",
                                     "missing", f"does not echo the request's {block}"))
        elif got[block] != value:
            findings.append(_finding("exchange.echo", response, ptr(index, "CustomBlock", block), short(value),
                                     got[block], f"{block} differs from the request's {block}"))
    return findings


def check_accepted(response: Any, *, index: int = 0) -> list[Finding]:
    """`exchange.accept`: a start the MDR serves is answered R0.responseCode A."""
    code = dig(response, "payload", "CommonBlock", "R0", "responseCode")
    if code == "A":
        return []
    reasons = dig(response, "payload", "CommonBlock", "R0", "responseMessages")
    return [_finding("exchange.accept", response, ptr(index, "CommonBlock", "R0", "responseCode"), "A", code,
                     f"R0.responseCode is {short(code)} for a start the MDR should serve "
                     f"(responseMessages {short(reasons)})")]


def check_rejected(response: Any, *, index: int = 0) -> list[Finding]:
    """`exchange.reject`: a start for an MPAN/MDR the MDR does not serve is R0.responseCode R with a reason."""
    code = dig(response, "payload", "CommonBlock", "R0", "responseCode")
    if code != "R":
        return [_finding("exchange.reject", response, ptr(index, "CommonBlock", "R0", "responseCode"), "R", code,
                         f"R0.responseCode is {short(code)} for a start naming another MDR; expected R")]
    reasons = dig(response, "payload", "CommonBlock", "R0", "responseMessages")
    if not (isinstance(reasons, list) and any(isinstance(r, str) and r.strip() for r in reasons)):
        return [_finding("exchange.reject", response, ptr(index, "CommonBlock", "R0", "responseMessages"),
                         "a reason, e.g. 'RCP1064 - MDR provided not valid'", reasons,
                         "rejects the start without a reason in R0.responseMessages")]
    return []


def check_not_sent(item: Any, *, index: int = 0, rule: str, why: str) -> list[Finding]:
    """A message that should not exist at all (consumption for a rejected MPAN): one finding naming it."""
    return [_finding(rule, item, ptr(index, "CommonBlock", "M0", "MPANCore"), "no message", mpan_of(item),
                     f"sent for MPAN {mpan_of(item)}, {why}")]


# --- IF-064 -----------------------------------------------------------------------------------------

def _days(item: Any) -> Iterator[tuple[int, dict]]:
    days = dig(item, "payload", "CustomBlock", "B941List")
    for i, day in enumerate(days if isinstance(days, list) else []):
        if isinstance(day, dict):
            yield i, day


def settlement_days(item: Any) -> list[date]:
    """The settlement days an IF-064 reports (dates as written), unreadable ones left out."""
    return [d for _, day in _days(item) if (d := day_of(dig(day, "settlementDay", "settlementDayDate")))]


def check_measurement_quantity(item: Any, direction: str | None, *, index: int = 0) -> list[Finding]:
    """`exchange.measurement-quantity`: B045 is AI for an import MPAN, AE for an export one (B078)."""
    expected = QUANTITY_FOR_DIRECTION.get(direction or "")
    got = dig(item, "payload", "CustomBlock", "B045", "measurementQuantityID")
    if expected is None or got is None or got == expected:
        return []
    what = "import" if direction == "I" else "export"
    return [_finding("exchange.measurement-quantity", item, ptr(index, "CustomBlock", "B045", "measurementQuantityID"),
                     expected, got, f"B045.measurementQuantityID is {short(got)} for an {what} MPAN "
                     f"(B078.energyDirection {direction}); expected {expected}")]


def check_period_duration(item: Any, *, index: int = 0) -> list[Finding]:
    """`periods.duration`: every settlement day says periodDuration 30."""
    findings = []
    for i, day in _days(item):
        value = dig(day, "settlementDay", "periodDuration")
        if value is not None and (value != PERIOD_DURATION or isinstance(value, bool)):
            findings.append(_finding("periods.duration", item,
                                     ptr(index, "CustomBlock", "B941List", i, "settlementDay", "periodDuration"),
                                     PERIOD_DURATION, value, f"settlement day {i + 1} has periodDuration "
                                     f"{short(value)}, expected {PERIOD_DURATION}"))
    return findings


def check_period_quantities(item: Any, *, index: int = 0) -> list[Finding]:
    """`periods.quantity`: each period's `v` is a 9.3 decimal string (first offender per day)."""
    findings = []
    for i, day in _days(item):
        periods = day.get("MDRConsumptionPeriods")
        for j, period in enumerate(periods if isinstance(periods, list) else []):
            value = dig(period, "v")
            if not (isinstance(value, str) and QUANTITY_PATTERN.fullmatch(value)):
                findings.append(_finding("periods.quantity", item,
                                         ptr(index, "CustomBlock", "B941List", i, "MDRConsumptionPeriods", j, "v"),
                                         "9.3 decimal string like '0.450'", value,
                                         f"period {j + 1} of settlement day {i + 1} has quantity {short(value)}, "
                                         "not in 9.3 form"))
                break
    return findings


def check_periods_count(item: Any, *, index: int = 0) -> list[Finding]:
    """`periods.count`: 48 periods per settlement day, an error in produce and exchange judgement.

    Message validation (`dipcert validate`) follows the schema, which allows 1..48; certification
    holds an MDR to complete days (assumption A-PERIODS-48), so the finding is an error here.
    """
    return [dataclasses.replace(f, severity="error") for f in labelled(checks.check_periods_count(item, index), item)]


def check_complete_days(item: Any, *, today: date, index: int = 0) -> list[Finding]:
    """`consumption.complete-days`: no settlement day on or after `today` (the UTC date): it has not ended."""
    findings = []
    for i, day in _days(item):
        when = day_of(dig(day, "settlementDay", "settlementDayDate"))
        if when is None or when < today:
            continue
        what = "today's" if when == today else "a future"
        findings.append(_finding("consumption.complete-days", item,
                                 ptr(index, "CustomBlock", "B941List", i, "settlementDay", "settlementDayDate"),
                                 f"a day before {today}", when.isoformat(),
                                 f"reports {what} settlement day {when}, which has not ended (today is {today} "
                                 f"UTC): only complete past days may be sent"))
    return findings


_PERIOD_CHECKS: tuple[Callable[[Any, int], list[Finding]], ...] = (
    checks.check_periods_sequence, checks.check_periods_utc,
)


def check_periods(item: Any, *, index: int = 0) -> list[Finding]:
    """Every settlement-period rule on one IF-064: 48 UTC half-hour ends per day, duration 30, 9.3 values."""
    findings: list[Finding] = check_periods_count(item, index=index)
    for rule in _PERIOD_CHECKS:
        findings.extend(labelled(rule(item, index), item))
    findings.extend(check_period_duration(item, index=index))
    findings.extend(check_period_quantities(item, index=index))
    return findings


def check_consumption_window(item: Any, *, start: date | None = None, stop: date | None = None,
                             index: int = 0) -> list[Finding]:
    """`exchange.before-start` / `exchange.after-stop`: no day before the start date or after the stop date."""
    findings = []
    for i, day in _days(item):
        when = day_of(dig(day, "settlementDay", "settlementDayDate"))
        path = ptr(index, "CustomBlock", "B941List", i, "settlementDay", "settlementDayDate")
        if when is None:
            continue
        if start is not None and when < start:
            findings.append(_finding("exchange.before-start", item, path, f"on or after {start}", when.isoformat(),
                                     f"reports settlement day {when}, before the MDR start date {start} "
                                     "(B019.assignedMDREffectiveFromDate)"))
        if stop is not None and when > stop:
            findings.append(_finding("exchange.after-stop", item, path, f"on or before {stop}", when.isoformat(),
                                     f"reports settlement day {when}, after the stop date {stop} "
                                     "(B083.assignedMDREffectiveToDate)"))
    return findings


def check_consumption(item: Any, *, direction: str | None = None, start: date | None = None,
                      stop: date | None = None, today: date | None = None, index: int = 0) -> list[Finding]:
    """All IF-064 content rules at once (what the runner applies to each consumption it judges)."""
    found = [*check_measurement_quantity(item, direction, index=index), *check_periods(item, index=index),
             *check_consumption_window(item, start=start, stop=stop, index=index)]
    if today is not None:
        found += check_complete_days(item, today=today, index=index)
    return found


def rules_of(findings: list[Finding]) -> list[str]:
    """Distinct rule ids in order of first appearance."""
    return list(dict.fromkeys(f.rule for f in findings))
