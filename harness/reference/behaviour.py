"""The business side of the reference MDR and SDS: what each sends in answer to what it receives.

The MDR answers IF-061 with IF-062 (accept when it is the MDR named in B019, reject with RCP1064
otherwise); it sends IF-064 consumption for a started MPAN when triggered (its daily run, brought
forward), or right after accepting when `spontaneous_consumption` is set; it stops on IF-063 (and
sends nothing for an MPAN it never started) and answers IF-065 requests. The SDS records what it
is sent. Every outgoing message is built here and passes through `apply_faults`,
the one place where a fault switch bends an otherwise correct message.
"""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from harness.core.catalogue import load_catalogue
from harness.core.errors import UsageError
from harness.messages.access import dig
from harness.messages.ids import (
    LONDON,
    break_check_digit,
    dip_timestamp,
    is_valid_mpan,
    make_mpan,
    parse_dip_timestamp,
)
from harness.messages.samples import SampleFactory
from harness.reference.faults import FaultSet
from harness.reference.recipient import ItemVerdict
from harness.reference.state import ParticipantState, Sent
from harness.transport.client import SubmitResult

# ASSUMPTION (A-RESPONSE-MESSAGE): R0.responseMessages read "<CODE> - <text>".
START_ACCEPTED = "SP000 - MDR start accepted"
START_REJECTED = "RCP1064 - MDR provided not valid"
START_DAYS_AGO = 2  # the reference SDS asks its MDR to start from this many days ago
MAX_CONSUMPTION_DAYS = 3  # the MDR's first IF-064 covers at most this many days (keeps runs fast)
WRONG_RECIPIENT = "1999999999"  # a DIP ID that is nobody's partner (fault `wrong-recipient`)
WRONG_ROLE = "SUP"  # fault `wrong-role`
WRONG_ENVIRONMENT = "PRD"  # fault `wrong-environment` (the demo and the tests run as UIT)
NOT_UTC = timezone(timedelta(hours=1))  # fault `periods-not-utc`
# Which interface a role consumes and answers; everything else incoming is recorded only.
ANSWERS = {"MDR": {"IF-061", "IF-063", "IF-065"}, "SDS": set()}

Submit = Callable[[str, list[dict]], SubmitResult]




def _day(stamp: Any) -> date | None:
    """The calendar date of a DT-003 timestamp as written (its own offset)."""
    try:
        return parse_dip_timestamp(stamp).date()
    except ValueError:
        return None


def _day_moved(day: dict, days: int) -> dict:
    """A copy of a B941 settlement day moved by `days` (faults `consumption-before-start`, `consumption-today`)."""
    moved_day = copy.deepcopy(day)
    settlement = moved_day.get("settlementDay") or {}
    if isinstance(settlement.get("settlementDayDate"), str):
        moved = datetime.fromisoformat(settlement["settlementDayDate"]) + timedelta(days=days)
        settlement["settlementDayDate"] = moved.isoformat()
    for period in moved_day.get("MDRConsumptionPeriods", []):
        period["sp"] = (datetime.fromisoformat(period["sp"]) + timedelta(days=days)).isoformat()
    return moved_day


def _day_before(day: dict) -> dict:
    """Fault `consumption-before-start`: a copy of a B941 settlement day moved one day earlier."""
    return _day_moved(day, -1)


def _day_of_b941(day: dict) -> date | None:
    return _day(dig(day, "settlementDay", "settlementDayDate"))


def deep_merge(target: dict, changes: dict) -> dict:
    """Merge `changes` into `target` in place: dicts recursively, anything else replaced."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


class Behaviour:
    """Builds, fault-bends and submits a participant's outgoing messages; reacts to incoming ones."""

    def __init__(self, role: str, *, party: Any, partner: Any, faults: FaultSet, state: ParticipantState,
                 submit: Submit, served_mpans: set[str] | None = None, seed: int = 0,
                 environment: str = "UIT", clock: Callable[[], datetime] | None = None,
                 spontaneous_consumption: bool = False) -> None:
        self.role = role
        self.party = party
        self.partner = partner
        self.faults = faults
        self.state = state
        self._submit = submit
        self.served_mpans = served_mpans
        self.environment = environment
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._first_reference: str | None = None
        self.spontaneous_consumption = spontaneous_consumption
        self._last_request: dict[str, str | None] = {}  # MPAN -> correlation id of the last request received
        self._previous: dict[str | None, str | None] = {}  # transaction id -> the request before it (same MPAN)
        self.catalogue = load_catalogue()

    # --- building ---------------------------------------------------------------------------

    def _factory(self):
        with self._lock:
            seed = self._rng.getrandbits(32)
        return SampleFactory(seed, environment=self.environment, now=self._clock())

    def event_for(self, interface_id: str, event: str | None) -> tuple[str, str]:
        """(interface, event) checked to be outgoing for this role; UsageError otherwise."""
        ev = self.catalogue.event(interface_id, event)
        if ev.direction_for(self.role) != "outgoing":
            raise UsageError(f"{ev.interface_id} [{ev.name}] is not an outgoing flow of the {self.role} "
                             f"(sent by {ev.sender})")
        return ev.interface_id, ev.name

    def build(self, interface_id: str, event: str | None = None, *, mpan: str | None = None,
              correlation_id: str | None = None, fields: dict | None = None) -> dict:
        """A correct outgoing message from this participant to its partner (before faults)."""
        interface_id, event = self.event_for(interface_id, event)
        factory = self._factory()
        if mpan is None:
            with self._lock:
                mpan = make_mpan(self._rng)
        item = factory.message(interface_id, event, sender=self.party, recipients=[self.partner.dip_id],
                               mpan=mpan, correlation_id=correlation_id)
        payload = item["payload"]
        custom = payload.setdefault("CustomBlock", {})
        if interface_id == "IF-061" and isinstance(custom.get("B019"), dict):
            # The partner is the MDR asked to start; from two days ago, so consumption exists already.
            start = self.today() - timedelta(days=START_DAYS_AGO)
            custom["B019"].update(assignedMDRDIPID=self.partner.dip_id, assignedMDRMPID=self.partner.mpid,
                                  assignedMDREffectiveFromDate=dip_timestamp(
                                      datetime(start.year, start.month, start.day, tzinfo=LONDON)))
        if interface_id == "IF-063" and isinstance(custom.get("B083"), dict):
            custom["B083"]["assignedMDRDIPID"] = self.partner.dip_id
            custom["B083"]["assignedMDRMPID"] = self.partner.mpid
        if interface_id == "IF-064":
            self._fill_consumption(item, mpan)
        if fields:
            if set(fields) <= {"CommonBlock", "CustomBlock"}:
                deep_merge(payload, fields)
            else:
                deep_merge(custom, fields)
        return item

    def _fill_consumption(self, item: dict, mpan: str, days: list[date] | None = None) -> None:
        """IF-064 for `days` (default: what the MPAN's state allows, else yesterday)."""
        record = self.state.mpan(mpan)
        direction = record.direction if record else "I"
        if days is None:
            days = self.consumption_days(mpan) or [self.today() - timedelta(days=1)]
        custom = item["payload"].setdefault("CustomBlock", {})
        custom["B045"] = {"measurementQuantityID": "AI" if direction == "I" else "AE"}
        factory = self._factory()
        custom["B941List"] = [b941 for d in days for b941 in factory.consumption_days(d, 1, direction)]

    def today(self) -> date:
        return self._clock().date()

    def consumption_days(self, mpan: str, start: date | None = None, last: date | None = None) -> list[date]:
        """Settlement days to report: from the start date up to yesterday (1..MAX days), never after a stop."""
        record = self.state.mpan(mpan)
        start = start or (record.started if record else None) or self.today() - timedelta(days=1)
        yesterday = self.today() - timedelta(days=1)
        last = last or max(start, yesterday)
        first = max(start, last - timedelta(days=MAX_CONSUMPTION_DAYS - 1))
        if record and record.stopped and "consumption-after-stop" not in self.faults:
            last = min(last, record.stopped)
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    # --- faults -----------------------------------------------------------------------------

    def apply_faults(self, interface_id: str, item: dict, *, answer: bool = False) -> dict:
        """Bend a correct message as the active fault switches say; returns the item (changed in place)."""
        common = item["payload"]["CommonBlock"]
        custom = item["payload"].setdefault("CustomBlock", {})
        for fault in self.faults.get("drop-field"):
            if fault.arg("interface") == interface_id:
                block = fault.arg("block")
                common.pop(block, None)
                custom.pop(block, None)
        s1 = common.get("S1", {})
        if "wrong-role" in self.faults:
            s1["senderRoleID"] = WRONG_ROLE
        if "wrong-environment" in self.faults and "environmentTag" in s1:
            s1["environmentTag"] = WRONG_ENVIRONMENT if self.environment != WRONG_ENVIRONMENT else "UIT"
        if "duplicate-reference" in self.faults:
            with self._lock:
                if self._first_reference is None:
                    self._first_reference = s1.get("senderUniqueReference")
                else:
                    s1["senderUniqueReference"] = self._first_reference
        if "wrong-recipient" in self.faults:
            common["A0"] = {"primaryRecipients": [WRONG_RECIPIENT], "secondaryRecipients": [], "always": []}
        if "bad-mpan-check-digit" in self.faults and isinstance(dig(common, "M0", "MPANCore"), str):
            common["M0"]["MPANCore"] = break_check_digit(common["M0"]["MPANCore"])
        if answer and "no-correlation" in self.faults and "S1" in common:
            s1["senderCorrelationID"] = None
        if answer and interface_id == "IF-062" and "no-echo" in self.faults and isinstance(custom.get("B078"), dict):
            direction = custom["B078"].get("energyDirection")
            custom["B078"]["energyDirection"] = {"I": "E", "E": "I"}.get(direction, direction)
        if interface_id == "IF-064":
            self._bend_consumption(custom)
        return item

    def _bend_consumption(self, custom: dict) -> None:
        days = custom.get("B941List") or []
        if "47-periods" in self.faults:
            for day in days:
                day["MDRConsumptionPeriods"] = day.get("MDRConsumptionPeriods", [])[:47]
        if "periods-not-utc" in self.faults:
            for day in days:
                for period in day.get("MDRConsumptionPeriods", []):
                    sp = datetime.fromisoformat(period["sp"])
                    period["sp"] = sp.astimezone(NOT_UTC).isoformat()
        if "periods-shifted" in self.faults:
            for day in days:
                for period in day.get("MDRConsumptionPeriods", []):
                    sp = datetime.fromisoformat(period["sp"]) + timedelta(minutes=30)
                    period["sp"] = sp.isoformat()
        if "period-duration-60" in self.faults:
            for day in days:
                if isinstance(day.get("settlementDay"), dict):
                    day["settlementDay"]["periodDuration"] = 60
        if "quantity-not-9.3" in self.faults:
            for day in days:
                for period in day.get("MDRConsumptionPeriods", []):
                    period["v"] = f"{float(period['v']):.1f}"
        if "consumption-before-start" in self.faults and days:
            days.insert(0, _day_before(days[0]))
        if "consumption-today" in self.faults and days:
            last = _day_of_b941(days[-1])
            if last is not None and last < self.today():
                days.append(_day_moved(days[-1], (self.today() - last).days))
        if "wrong-measurement-quantity" in self.faults and isinstance(custom.get("B045"), dict):
            current = custom["B045"].get("measurementQuantityID")
            custom["B045"]["measurementQuantityID"] = {"AI": "AE", "AE": "AI"}.get(current, current)

    # --- sending ----------------------------------------------------------------------------

    def send(self, interface_id: str, item: dict, *, answer: bool = False) -> SubmitResult:
        """Apply faults, submit through the DIP client, record what happened."""
        self.apply_faults(interface_id, item, answer=answer)
        common = item["payload"]["CommonBlock"]
        code = dig(common, "S0", "eventCode")
        record = Sent(interface_id, code.strip("[]") if isinstance(code, str) else None,
                      dig(common, "M0", "MPANCore"), dig(common, "S1", "senderUniqueReference"),
                      dig(common, "S1", "senderCorrelationID"), None, [], [], item)
        try:
            result = self._submit(interface_id, [item])
        except Exception as exc:  # noqa: BLE001 - a network failure is recorded, the worker carries on
            record.error = f"{type(exc).__name__}: {exc}"
            self.state.add_sent(record)
            raise
        record.status, record.transaction_ids, record.messages = result.status, result.transaction_ids, result.messages
        self.state.add_sent(record)
        return result

    def trigger(self, interface_id: str, event: str | None = None, *, mpan: str | None = None,
                correlation_id: str | None = None, fields: dict | None = None) -> tuple[dict, SubmitResult]:
        """An outgoing flow on request (`POST /trigger`)."""
        interface_id, event = self.event_for(interface_id, event)
        record = self.state.mpan(mpan) if mpan else None
        if correlation_id is None and record is not None:
            correlation_id = record.correlation_id
        if interface_id == "IF-064" and mpan and not (fields and "B941List" in fields):
            days = self.consumption_days(mpan)
            if not days and record is not None:  # days run out only after a recorded stop
                raise UsageError(f"MPAN {mpan} was stopped on {record.stopped}: no consumption to send")
        item = self.build(interface_id, event, mpan=mpan, correlation_id=correlation_id, fields=fields)
        if self.role == "SDS" and interface_id == "IF-061":
            common, custom = item["payload"]["CommonBlock"], item["payload"]["CustomBlock"]
            self.state.update_mpan(common["M0"]["MPANCore"], correlation_id=common["S1"].get("senderCorrelationID"),
                                   direction=dig(custom, "B078", "energyDirection") or "I")
        # Consumption asked for a started MPAN answers its start (the answer faults apply to it).
        answer = interface_id == "IF-064" and record is not None and record.accepted
        return item, self.send(interface_id, item, answer=answer)

    # --- reacting ---------------------------------------------------------------------------

    def handle(self, verdict: ItemVerdict) -> None:
        """Business reaction to one accepted, first-time delivery (runs in the worker thread)."""
        interface_id, event, item = verdict.interface_id, verdict.event, verdict.item
        if self.role == "SDS":
            self._sds_record(interface_id, item)
            return
        silent = [f for f in ("never-answers", "request-without-answer") if f in self.faults]
        if silent and interface_id in ANSWERS["MDR"]:
            self.state.add_declined(transaction_id=verdict.transaction_id, reason=f"fault {silent[0]}")
            return
        mpan = verdict.mpan
        if not isinstance(mpan, str):
            return  # unreachable: the schema requires M0.MPANCore, so every request accepted here names one
        # fault `answer-wrong-request` answers with the previous request's id
        self._previous[verdict.transaction_id] = self._last_request.get(mpan, verdict.correlation_id)
        self._last_request[mpan] = verdict.correlation_id
        if interface_id == "IF-061":
            self._mdr_start(verdict, mpan)
        elif interface_id == "IF-063":
            self._mdr_stop(verdict, mpan)
        elif interface_id == "IF-065" and event in ("MDRInstantaneous", "MDRTOU"):
            self._mdr_reading(verdict, mpan)
        elif interface_id == "IF-065" and event == "MDRConsumption":
            self._mdr_consumption_request(verdict, mpan)

    def _sds_record(self, interface_id: str | None, item: dict) -> None:
        common = item["payload"]["CommonBlock"]
        mpan = dig(common, "M0", "MPANCore")
        if interface_id == "IF-062" and isinstance(mpan, str):
            self.state.update_mpan(mpan, accepted=dig(common, "R0", "responseCode") == "A")

    def serves(self, item: dict) -> bool:
        mpan = dig(item, "payload", "CommonBlock", "M0", "MPANCore")
        assigned = dig(item, "payload", "CustomBlock", "B019", "assignedMDRDIPID")
        if not (isinstance(mpan, str) and is_valid_mpan(mpan)) or assigned != self.party.dip_id:
            return False
        return self.served_mpans is None or mpan in self.served_mpans

    def _answer(self, interface_id: str, event: str, request: ItemVerdict) -> dict:
        """An answer to `request`: same MPAN and M0, the request's correlation id."""
        mpan = request.mpan if isinstance(request.mpan, str) and is_valid_mpan(request.mpan) else None
        correlation = request.correlation_id
        if "answer-wrong-request" in self.faults and request.interface_id == "IF-065":
            correlation = self._previous.get(request.transaction_id, correlation)
        item = self.build(interface_id, event, mpan=mpan, correlation_id=correlation)
        common = item["payload"]["CommonBlock"]
        common["M0"] = copy.deepcopy(request.item["payload"]["CommonBlock"]["M0"])
        common["S1"]["senderCorrelationID"] = correlation
        return item

    def _mdr_start(self, request: ItemVerdict, mpan: str) -> None:
        payload = request.item["payload"]
        served = self.serves(request.item) or "accept-anything-start" in self.faults
        answer = self._answer("IF-062", "MDRStartResponse", request)
        answer["payload"]["CustomBlock"] = copy.deepcopy(payload["CustomBlock"])
        answer["payload"]["CommonBlock"]["R0"] = {
            "responseCode": "A" if served else "R",
            "responseMessages": [START_ACCEPTED if served else START_REJECTED],
        }
        if served:
            custom = payload["CustomBlock"]
            meters = [m.get("meterID") for m in custom.get("B074List") or [] if isinstance(m, dict)]
            self.state.update_mpan(mpan, started=_day(dig(custom, "B019", "assignedMDREffectiveFromDate")),
                                   correlation_id=request.correlation_id, accepted=True,
                                   direction=dig(custom, "B078", "energyDirection") or "I",
                                   meters=[m for m in meters if m])
        self.send("IF-062", answer, answer=True)
        if served and self.spontaneous_consumption:
            days = self.consumption_days(mpan)
            if days:
                self._send_consumption(request, mpan, days)

    def _send_consumption(self, request: ItemVerdict, mpan: str, days: list[date]) -> None:
        item = self._answer("IF-064", "MDRConsumption", request)
        self._fill_consumption(item, mpan, days)
        self.send("IF-064", item, answer=True)

    def _mdr_stop(self, request: ItemVerdict, mpan: str) -> None:
        stop = _day(dig(request.item, "payload", "CustomBlock", "B083", "assignedMDREffectiveToDate"))
        known = self.state.mpan(mpan)
        self.state.update_mpan(mpan, stopped=stop)
        if (known is None or not known.accepted) and stop is not None:
            # Never started here: nothing to stop, nothing to send (fault `stop-unknown-consumption` sends anyway).
            if "stop-unknown-consumption" in self.faults:
                self._send_consumption(request, mpan, [stop])
            return
        if "consumption-after-stop" in self.faults and stop is not None:
            self._send_consumption(request, mpan, [stop + timedelta(days=1)])

    def _mdr_reading(self, request: ItemVerdict, mpan: str) -> None:
        record = self.state.mpan(mpan)
        meters = (record.meters if record and record.meters else None) or [mpan[-10:]]
        reference = dig(request.item, "payload", "CustomBlock", "B077", "MDRReferenceDateTime")
        moment = reference if request.event == "MDRTOU" and isinstance(reference, str) else dip_timestamp(self._clock())
        answer = self._answer("IF-065", "ReadingRemote", request)
        with self._lock:
            readings = [{"meterID": m,
                         "cumulativeRegisterReading": f"{self._rng.randrange(100000, 999999)}."
                                                      f"{self._rng.randrange(1000):03d}",
                         "cumulativeRegisterReadingDateTime": moment} for m in meters]
        answer["payload"]["CustomBlock"] = {"B076List": readings}
        self.send("IF-065", answer, answer=True)

    def _mdr_consumption_request(self, request: ItemVerdict, mpan: str) -> None:
        day = _day(dig(request.item, "payload", "CustomBlock", "B077", "MDRReferenceDateTime"))
        record = self.state.mpan(mpan)
        if day is None:
            return
        if record and record.stopped and day > record.stopped and "consumption-after-stop" not in self.faults:
            self.state.add_declined(transaction_id=request.transaction_id, mpan=mpan,
                                    reason=f"{day} is after the stop date {record.stopped}")
            return
        self._send_consumption(request, mpan, [day])

