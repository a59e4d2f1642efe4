"""Realistic, reproducible DIP messages for every event of the nine interfaces.

One seed reproduces a message byte for byte: values come from `random.Random(seed)` and a seeded
`Faker('en_GB')`, and the clock (`now`) is fixed per factory. The content of each event is a small
table of blocks (`EVENT_BLOCKS`) whose builders draw every value from a `Source`; the hypothesis
strategies (`harness.messages.strategies`) feed the same builders from a hypothesis `draw`, so the
samples and the property tests can never disagree about what a valid message looks like.
"""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal, Protocol, TypeVar

from faker import Faker

from harness.core.catalogue import Event, load_catalogue
from harness.core.errors import UsageError
from harness.messages import ids

Form = Literal["ingress", "egress"]
FORMS: tuple[str, ...] = ("ingress", "egress")
T = TypeVar("T")
UTC = timezone.utc


@dataclass(frozen=True)
class Party:
    role: str
    dip_id: str
    mpid: str
    dcp_id: str | None = None


# Fixed parties, for callers that register them (hubs, reference participants, the demo).
# Leading digits follow the observed pattern (SUP 23..., SDS 14..., REGS 22...).
DEFAULT_PARTIES: dict[str, Party] = {
    "MDR": Party("MDR", "1650000101", "MDRA"),
    "SDS": Party("SDS", "1450000102", "SDSB"),
    "REGS": Party("REGS", "2250000103", "REGC"),
    "SUP": Party("SUP", "2350000104", "SUPD"),
}
_DIP_ID_PREFIX = {"MDR": "16", "SDS": "14", "REGS": "22", "SUP": "23"}


def seeded_parties(seed: int) -> dict[str, Party]:
    """Parties of the four roles drawn for a seed: samples of different seeds name different
    market participants (DIP IDs with the observed leading digits, four-letter MPIDs)."""
    rng = random.Random(f"parties:{seed}")
    parties = {}
    for role, prefix in _DIP_ID_PREFIX.items():
        parties[role] = Party(role, prefix + "".join(str(rng.randrange(10)) for _ in range(8)), ids.make_mpid(rng))
    return parties


# Distributors' DIP IDs per GSP group (M0.distributorDIPID); synthetic, one per DNO area.
DISTRIBUTOR_DIP_IDS: dict[str, str] = {gsp: f"30{dist}000001" for gsp, dist in ids.GSP_DISTRIBUTOR.items()}

# --- enumerations (DataCatalogue facts; the schemas are the authority, these feed generators) ---
ENVIRONMENTS = ("PRD", "SITB", "SIT", "UIT", "DEV")
GSP_GROUPS = tuple(sorted(ids.GSP_DISTRIBUTOR))
METER_TYPES = (
    "CHECK",
    "H",
    "K",
    "LAG_",
    "LEAD_",
    "MAIN_",
    "N",
    "NCAMR",
    "NSS",
    "RCAMR",
    "RCAMY",
    "S",
    "S1",
    "S2A",
    "S2AD",
    "S2ADE",
    "S2B",
    "S2BD",
    "S2BDE",
    "S2C",
    "S2CD",
    "S2CDE",
    "SPECL",
    "T",
    "2ADF",
    "2ADEF",
    "2AEF",
    "2AF",
    "2BF",
    "2BDF",
    "2BDEF",
    "2BEF",
    "2CDEF",
    "2CF",
    "2CDF",
    "2CEF",
)
SMART_METER_TYPES = ("S1", "S2A", "S2AD", "S2ADE", "S2B", "S2C")  # what a domestic MDR mostly sees
PROFILE_CLASSES = tuple(range(1, 9))  # 1 domestic unrestricted, 2 domestic Economy 7, 3-8 non-domestic
METER_LOCATIONS = tuple("ABCDEFGHIJKLMNOPRSTUVWXYZ")
ENERGISATION = ("D", "E", "U")
CONSENT = ("H", "D", "M", "N", "x")
IHD_STATUS = ("I", "D", "E", "F", None)
MEASUREMENT_QUANTITY = ("AI", "AE", "RI", "RE")
QUALITY = (
    "A",
    "E",
    "E0",
    "E1",
    "E2",
    "E3",
    "E4",
    "E5",
    "E6",
    "E7",
    "E8",
    "E9",
    "ZE",
    "ZE1",
    "ZE2",
    "ZE3",
    "A1",
    "A2",
    "A3",
    "AAE1",
    "AAE2",
    "AAE3",
    "EAE1",
    "EAE2",
    "EAE3",
    "EA1",
    "EA2",
    "EA3",
    "EA4",
    "EA5",
    "EA6",
    "EA7",
    "EA8",
    "EA9",
    "EA10",
    "EA11",
    "EA12",
    "EA13",
)
RESPONSE_CODES = ("A", "R", "L", "W")
METER_MAKES = (
    "EDMI ES-10B",
    "Landis+Gyr E470",
    "Secure Liberty 100",
    "Aclara SGM1412",
    "Honeywell AS302P",
    "Itron ACE3000",
    "Kaifa MA120",
    "Elster A1140",
    "Sagemcom S211",
)
SMSO_IDS = ("TRIL", "SMSO", "ARQV", "CAPM")
NOTE_TEMPLATES = (
    "Meter in external box; key held by {name} at {number} {street}.",
    "Access via side gate on {street}; dog on premises.",
    "Customer {name} requests appointment before noon.",
    "Meter cupboard under stairs at {number} {street}.",
)

# Appointment accepted (ResponseCodes SP000); entries read '<CODE> - <text>' (A-RESPONSE-MESSAGE).
ACCEPTED = "SP000 - Proposed Appointment ACCEPTED"
REJECTED = "SP007 - Out of Operational Area"


# --- value sources ---------------------------------------------------------------------------


class Source(Protocol):
    """Where a builder's values come from: a seeded Random (samples) or hypothesis (strategies).

    `prefer` and `typical` say what a realistic sample uses; a hypothesis source ignores them and
    explores the whole valid range instead.
    """

    def choice(self, options: Sequence[T], prefer: Sequence[T] | None = None) -> T: ...
    def integer(self, lo: int, hi: int, prefer: Sequence[int] | None = None) -> int: ...
    def chance(self, p: float) -> bool: ...
    def decimal(self, lo: float, hi: float, typical: float | None = None) -> str: ...
    def number(self, lo: float, hi: float) -> float: ...
    def text(self, kind: str) -> str: ...
    def moment(self, lo: datetime, hi: datetime, *, midnight: bool = True) -> datetime: ...


def decimal_9_3(value: float) -> str:
    """DT-016 decimal as the DIP carries it: a string with exactly three decimals."""
    return f"{value:.3f}"


_IDLE_FAKERS: list[Any] = []  # built once each, lent to one source at a time
_FAKERS_LOCK = threading.Lock()


@contextmanager
def _lent_faker(stream: random.Random) -> Iterator[Any]:
    """A `Faker('en_GB')` drawing from `stream` for the time of one value. Building a Faker costs
    milliseconds (it loads every provider) and a run makes hundreds of factories on many threads, so
    Fakers are built only when every one is busy and otherwise lent (one borrower at a time)."""
    fake: Any
    with _FAKERS_LOCK:
        fake = _IDLE_FAKERS.pop() if _IDLE_FAKERS else None
    if fake is None:
        fake = Faker("en_GB")
        fake.seed_instance(0)  # marks it seeded: Faker then draws everything from `random`, never urandom
    fake.random = stream
    try:
        yield fake
    finally:
        with _FAKERS_LOCK:
            _IDLE_FAKERS.append(fake)


class RandomSource:
    """Realistic values from a seeded `random.Random` and a seeded `Faker('en_GB')`."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self._seed = seed
        self._fake_stream: random.Random | None = None

    def _faker(self) -> Any:
        """A Faker drawing from this source's own stream, seeded on first use as `seed_instance` seeds a
        Faker of its own (the same values, whoever borrowed that Faker before). Not `seed`: that would
        mirror the rng's stream."""
        if self._fake_stream is None:
            self._fake_stream = random.Random(f"faker:{self._seed}")
        return _lent_faker(self._fake_stream)

    def choice(self, options: Sequence[T], prefer: Sequence[T] | None = None) -> T:
        return self.rng.choice(list(prefer or options))

    def integer(self, lo: int, hi: int, prefer: Sequence[int] | None = None) -> int:
        return self.rng.choice(list(prefer)) if prefer else self.rng.randint(lo, hi)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def decimal(self, lo: float, hi: float, typical: float | None = None) -> str:
        if typical is None:
            return decimal_9_3(self.rng.uniform(lo, hi))
        return decimal_9_3(min(hi, max(lo, typical * self.rng.uniform(0.7, 1.3))))

    def number(self, lo: float, hi: float) -> float:
        return round(self.rng.uniform(lo, hi), 1)

    def text(self, kind: str) -> str:
        if kind == "meter_id":  # e.g. 19L1234567: year of manufacture, maker letter, serial
            with self._faker() as fake:
                return str(fake.bothify("##?#######", letters="ABCDEFGHJKLMNPRSTUVWXYZ"))
        if kind == "guid":
            with self._faker() as fake:
                return str(fake.hexify("^^-^^-^^-00-00-^^-^^-^^", upper=True))
        if kind == "make":
            return self.rng.choice(METER_MAKES)
        if kind == "mpid":
            return ids.make_mpid(self.rng)
        if kind == "smso":
            return self.rng.choice(SMSO_IDS)
        if kind == "css_id":
            with self._faker() as fake:
                return str(fake.uuid4())
        if kind == "unique":
            return ids.unique_token(self.rng, 16)
        if kind == "dip_id":
            return ids.make_dip_id(self.rng)
        if kind == "url":
            return f"https://servicedesk.example.org/tickets/{self.rng.randrange(10**6):06d}"
        if kind == "note":
            template = self.rng.choice(NOTE_TEMPLATES)
            with self._faker() as fake:  # draws in the order of the template's arguments
                name, number, street = fake.name(), self.rng.randint(1, 240), fake.street_name()
            return str(template.format(name=name, number=number, street=street))
        if kind == "message":
            return ACCEPTED
        if kind == "rejection":
            return REJECTED
        raise ValueError(f"unknown text kind {kind!r}")

    def moment(self, lo: datetime, hi: datetime, *, midnight: bool = True) -> datetime:
        span = max(0, int((hi - lo).total_seconds()))
        moment = lo + timedelta(seconds=self.rng.randrange(span + 1))
        if midnight:  # effective dates are London days: start of that local day
            local = moment.astimezone(ids.LONDON).date()
            moment = datetime.combine(local, time(0), ids.LONDON)
            if moment < lo:
                moment = datetime.combine(local + timedelta(days=1), time(0), ids.LONDON)
        return moment


# --- building context ------------------------------------------------------------------------


@dataclass
class Context:
    """Everything a block builder may need about the message being built."""

    src: Source
    now: datetime
    event: Event
    sender: Party
    recipient: Party
    parties: Mapping[str, Party]
    mpan: str
    gsp: str
    environment: str = "UIT"
    days: int = 1
    direction: str = "I"
    correlation_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def party(self, role: str) -> Party:
        """The party playing `role` in this message: sender, recipient, or the default."""
        for p in (self.sender, self.recipient):
            if p.role == role:
                return p
        return self.parties.get(role) or DEFAULT_PARTIES[role]

    def stamp(self, moment: datetime) -> str:
        return ids.dip_timestamp(moment)

    def past(self, days_lo: int, days_hi: int, *, midnight: bool = True) -> str:
        return self.stamp(
            self.src.moment(self.now - timedelta(days=days_hi), self.now - timedelta(days=days_lo), midnight=midnight)
        )

    def future(self, days_lo: int, days_hi: int) -> str:
        return self.stamp(self.src.moment(self.now + timedelta(days=days_lo), self.now + timedelta(days=days_hi)))


Builder = Callable[[Context], Any]


@dataclass(frozen=True)
class Block:
    key: str
    build: Builder
    required: bool = True
    presence: float = 0.8  # how often a sample carries it when optional


# --- block builders (one per CustomBlock block) ----------------------------------------------


def _nullable(ctx: Context, value: Callable[[], T], p_null: float = 0.2) -> T | None:
    return None if ctx.src.chance(p_null) else value()


def work_day(ctx: Context) -> str:
    """The day of the field work a registration notification reports (a meter installed, removed
    or exchanged): a few days before the notification, the same day for every block of it."""
    if "work_day" not in ctx.extra:
        ctx.extra["work_day"] = ctx.past(1, 10)
    return ctx.extra["work_day"]


def b074_meter(ctx: Context, installed: str | None = None) -> dict:
    src = ctx.src
    return {
        "meterID": src.text("meter_id"),
        "meterType": src.choice(METER_TYPES, prefer=SMART_METER_TYPES),
        "manufacturersMakeAndType": _nullable(ctx, lambda: src.text("make"), 0.1),
        "ESMEGUID": _nullable(ctx, lambda: src.text("guid"), 0.1),
        "meterLocation": src.choice(METER_LOCATIONS),
        "numberOfDisplayedRegisterDigits": _nullable(ctx, lambda: src.integer(0, 9, prefer=(5, 6)), 0.1),
        "meterInstallationDate": installed or ctx.past(60, 2500),
    }


def b033_existing_meter(ctx: Context, installed: str | None = None) -> dict:
    meter = b074_meter(ctx, installed)
    return {
        "meterID": meter.pop("meterID"),
        "modifiedMeterID": _nullable(ctx, lambda: ctx.src.text("meter_id"), 0.8),
        **meter,
    }


def b034_map_history(ctx: Context, effective: str | None = None) -> dict:
    return {
        "meterAssetProviderID": ctx.src.text("mpid"),
        "meterAssetProviderEffectiveFromDate": effective or ctx.past(30, 2500),
    }


def _history_map(ctx: Context) -> list:
    return [b034_map_history(ctx) for _ in range(ctx.src.integer(1, 3, prefer=(1,)))]


def b906(ctx: Context) -> dict:
    return {"existingMeter": b033_existing_meter(ctx), "historyMAP": _history_map(ctx)}


def b906_new_meter(ctx: Context) -> dict:
    """A meter just installed (or exchanged in): installed on the work day, its MAP from that day."""
    day = work_day(ctx)
    return {"existingMeter": b033_existing_meter(ctx, day), "historyMAP": [b034_map_history(ctx, day)]}


def b906_history_optional(ctx: Context) -> dict:
    block: dict[str, Any] = {"existingMeter": b033_existing_meter(ctx)}
    if ctx.src.chance(0.7):
        block["historyMAP"] = _history_map(ctx)
    return block


def b905_list(ctx: Context) -> list:
    items = []
    for _ in range(ctx.src.integer(1, 3, prefer=(1,))):
        item = {}
        if ctx.src.chance(0.9):
            item["existingMeter"] = b074_meter(ctx)
        if ctx.src.chance(0.9):
            item["existingMAP"] = b034_map_history(ctx)
        items.append(item)
    return items


def b030_ihd(ctx: Context) -> dict:
    return {
        "IHDInstallStatus": ctx.src.choice(IHD_STATUS, prefer=("I", "D", None)),
        "IHDEffectiveFromDate": ctx.past(1, 400),
    }


def b030_ihd_at_work(ctx: Context) -> dict:
    """The in-home display as left by the meter work (installed, or not, that day)."""
    return {
        "IHDInstallStatus": ctx.src.choice(IHD_STATUS, prefer=("I", "I", None)),
        "IHDEffectiveFromDate": work_day(ctx),
    }


def b039_meter_removed(ctx: Context) -> dict:
    """The meter taken out on the work day (an exchanged-in meter is installed the same day)."""
    return {"meterIDRemoved": ctx.src.text("meter_id"), "meterRemovalDate": _nullable(ctx, lambda: work_day(ctx), 0.1)}


def b025_energisation(ctx: Context) -> dict:
    return {
        "energisationStatus": ctx.src.choice(ENERGISATION, prefer=("E",)),
        "energisationStatusEffectiveFromDate": ctx.past(30, 3000),
    }


def b068_consent_granularity(ctx: Context) -> dict:
    return {
        "consentGranularity": ctx.src.choice(CONSENT, prefer=("H", "D")),
        "consentGranularityEffectiveFromDate": ctx.past(1, 700),
    }


def b031_smso(ctx: Context) -> dict:
    return {"SMSOID": _nullable(ctx, lambda: ctx.src.text("smso"), 0.5), "SMSOEffectiveFromDate": ctx.past(30, 2000)}


def b032_profile_class_ssc(ctx: Context) -> dict:
    src = ctx.src
    return {
        "profileClass": _nullable(ctx, lambda: str(src.choice(PROFILE_CLASSES, prefer=(1, 1, 1, 2))), 0.1),
        "profileClassEffectiveFromDate": _nullable(ctx, lambda: ctx.past(30, 3000), 0.1),
        "SSC": _nullable(ctx, lambda: f"{src.integer(0, 9999, prefer=(393, 151, 181)):04d}", 0.1),
        "SSCEffectiveFromDate": _nullable(ctx, lambda: ctx.past(30, 3000), 0.1),
    }


def b013_css_registration(ctx: Context) -> dict:
    return {"CSSRegistrationID": ctx.src.text("css_id")}


def b060_additional_information(ctx: Context) -> dict:
    return {"additionalInformation": _nullable(ctx, lambda: ctx.src.text("note"), 0.2)}


def b019_assigned_mdr(ctx: Context) -> dict:
    mdr = ctx.party("MDR")
    return {
        "assignedMDRDIPID": mdr.dip_id,
        "assignedMDRMPID": mdr.mpid,
        "assignedMDREffectiveFromDate": ctx.future(1, 14),
    }


def b012_requesting_supplier(ctx: Context) -> dict:
    sup = ctx.party("SUP")
    return {
        "serviceProviderAppointmentRequestingSupplierDIPID": sup.dip_id,
        "serviceProviderAppointmentRequestingSupplierMPID": sup.mpid,
    }


def b078_energy_direction(ctx: Context) -> dict:
    return {"energyDirection": ctx.direction}


def b074_existing_meters(ctx: Context) -> list:
    return [b074_meter(ctx) for _ in range(ctx.src.integer(1, 3, prefer=(1,)))]


def b083_mdr_end(ctx: Context) -> dict:
    mdr = ctx.party("MDR")
    return {
        "assignedMDRDIPID": mdr.dip_id,
        "assignedMDRMPID": mdr.mpid,
        "assignedMDREffectiveToDate": ctx.future(1, 30),
    }


def b045_measurement_quantity(ctx: Context) -> dict:
    prefer = ("AI",) if ctx.direction == "I" else ("AE",)
    block = {"measurementQuantityID": ctx.src.choice(MEASUREMENT_QUANTITY, prefer=prefer)}
    ctx.extra["quantity"] = block["measurementQuantityID"]
    return block


def b941_list(ctx: Context) -> list:
    first = ctx.now.astimezone(UTC).date() - timedelta(days=ctx.days)
    return consumption_days(ctx.src, first, ctx.days, "E" if ctx.extra.get("quantity", "AI").endswith("E") else "I")


def b077_reference_time(ctx: Context) -> dict:
    return {"MDRReferenceDateTime": ctx.past(1, 14)}


def _read_meter(ctx: Context) -> tuple[str, str]:
    """The one meter a [ReadingRemote] reads, and when: every register of it at the same moment."""
    if "read_meter" not in ctx.extra:
        ctx.extra["read_meter"] = (ctx.src.text("meter_id"), ctx.past(0, 1, midnight=False))
    return ctx.extra["read_meter"]


def b076_cumulative_readings(ctx: Context) -> list:
    meter, when = _read_meter(ctx)
    return [
        {
            "meterID": meter,
            "cumulativeRegisterReading": ctx.src.decimal(0, 999999, typical=12000.0),
            "cumulativeRegisterReadingDateTime": when,
        }
    ]


def b065_configurable_readings(ctx: Context) -> list:
    meter, when = _read_meter(ctx)
    count = ctx.src.integer(1, 4, prefer=(2,))
    return [
        {
            "meterID": meter,
            "configurableRegisterReadingDate": when,
            "configurableRegisterID": f"{i + 1:02d}",
            "configurableRegisterReading": ctx.src.decimal(0, 999999, typical=6000.0 / (i + 1)),
        }
        for i in range(count)
    ]


def b057_supplier_notification(ctx: Context) -> dict:
    return {
        "supplierNotificationEffectiveFromDate": ctx.past(0, 30),
        "supplierNotificationExpiryDate": _nullable(ctx, lambda: ctx.future(30, 365), 0.5),
        "additionalInformation": _nullable(ctx, lambda: ctx.src.text("note"), 0.5),
    }


def b069_meter_id(ctx: Context) -> dict:
    return {"meterID": ctx.src.text("meter_id")}


def b058_annual_consumption(ctx: Context) -> dict:
    return {"supplierNominatedAnnualConsumption": ctx.src.decimal(0, 99999, typical=2700.0)}


def b097_off_peak_declarations(ctx: Context) -> list:
    return [
        {"offPeakDeclarationDate": ctx.past(0, 60), "offPeakDeclarationProportion": ctx.src.number(0, 100)}
        for _ in range(ctx.src.integer(1, 3, prefer=(1,)))
    ]


# --- IF-064 consumption ----------------------------------------------------------------------

# Half-hourly import of a home by local hour, kWh: a profile class 1 home (unrestricted) uses about
# 8.5 kWh a day with an evening peak; a profile class 2 home (Economy 7) shifts a third of its use
# into the cheap night hours. Typical GB domestic use is 7-10 kWh a day.
_PROFILE_SHAPES: dict[int, tuple[tuple[float, float], ...]] = {
    # (until local hour, kWh per half hour)
    1: ((6.5, 0.08), (9, 0.22), (16, 0.14), (21, 0.36), (24, 0.18)),
    2: ((0.5, 0.15), (7.5, 0.26), (9, 0.16), (16, 0.08), (21, 0.30), (24, 0.15)),
}


def _domestic_kwh(local_hour: float, profile_class: int) -> float:
    shape = _PROFILE_SHAPES.get(profile_class, _PROFILE_SHAPES[1])
    return next(kwh for until, kwh in shape if local_hour < until)


def _solar_kwh(local_hour: float, profile_class: int) -> float:
    """Typical half-hourly export of rooftop solar: nothing at night, a midday bell."""
    return max(0.0, 0.9 * (1 - ((local_hour - 13) / 6) ** 2)) if 7 <= local_hour <= 19 else 0.0


def consumption_days(src: Source, start: date, days: int, direction: str = "I") -> list[dict]:
    """B941 items: `days` UTC settlement days from `start`, 48 half hours each (`sp` = period end).

    Quantities follow a domestic profile class (1 mostly, sometimes 2) by London local time; on
    some days a few consecutive periods are estimated (a communications gap) rather than actual.
    """
    profile = _domestic_kwh if direction == "I" else _solar_kwh
    profile_class = src.choice((1, 2), prefer=(1, 1, 1, 2))
    result = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        gap = range(0)
        if src.chance(0.3):
            first = src.integer(0, 47)
            gap = range(first, first + src.integer(1, 8, prefer=(2, 3, 4)))
        periods = []
        for i, end in enumerate(ids.settlement_period_ends(day)):
            middle = (end - timedelta(minutes=15)).astimezone(ids.LONDON)
            kwh = profile(middle.hour + middle.minute / 60, profile_class)
            quality = src.choice(QUALITY, prefer=("E",) if i in gap else ("A",))
            periods.append({"sp": ids.utc_timestamp(end), "v": src.decimal(0, 99999.999, typical=kwh), "q": quality})
        result.append(
            {
                "settlementDay": {"settlementDayDate": ids.utc_timestamp(midnight), "periodDuration": 30},
                "MDRConsumptionPeriods": periods,
            }
        )
    return result


# --- the events as data ----------------------------------------------------------------------

_IF061_BLOCKS = (
    Block("B019", b019_assigned_mdr),
    Block("B012", b012_requesting_supplier, False),
    Block("B078", b078_energy_direction),
    Block("B025", b025_energisation),
    Block("B068", b068_consent_granularity),
    Block("B031", b031_smso, False),
    Block("B074List", b074_existing_meters, False),
    Block("B060", b060_additional_information, False, 0.3),
)
_B905 = Block("B905List", b905_list, False, 0.5)
_B060 = Block("B060", b060_additional_information, False, 0.3)
_B057 = Block("B057", b057_supplier_notification)

EVENT_BLOCKS: dict[str, tuple[Block, ...]] = {
    "IF-006/MeterInstall": (Block("B906", b906_new_meter), Block("B030", b030_ihd_at_work, False), _B905),
    "IF-006/MeterRemoval": (Block("B039", b039_meter_removed), _B905),
    "IF-006/MeterExchange": (
        Block("B906", b906_new_meter),
        Block("B039", b039_meter_removed),
        Block("B030", b030_ihd_at_work, False),
        _B905,
    ),
    "IF-006/MeterUpdate": (
        Block("B906", b906_history_optional),
        Block("B030", b030_ihd, False),
        Block("B039", b039_meter_removed, False, 0.3),
        _B905,
    ),
    "IF-006/MeterHistoryUpdate": (
        Block("B906", b906_history_optional),
        Block("B039", b039_meter_removed, False, 0.3),
        _B905,
    ),
    "IF-008/EnergisationStatusChange": (Block("B025", b025_energisation),),
    "IF-024/SN-Vacant": (_B057,),
    "IF-024/SN-NoComms": (_B057,),
    "IF-024/SN-RemoteEnabled": (_B057, Block("B069", b069_meter_id)),
    "IF-024/SN-RemoteDisabled": (_B057, Block("B069", b069_meter_id)),
    "IF-024/SN-SupplierAC": (_B057, Block("B058", b058_annual_consumption)),
    "IF-024/SN-OffPeakDec": (Block("B097List", b097_off_peak_declarations),),
    "IF-026/ConsentGranularity": (
        Block("B013", b013_css_registration, False, 0.5),
        Block("B068", b068_consent_granularity),
    ),
    "IF-026/IHDInfo": (Block("B013", b013_css_registration, False, 0.5), Block("B030", b030_ihd)),
    "IF-026/SMSO": (Block("B013", b013_css_registration, False, 0.5), Block("B031", b031_smso)),
    "IF-026/SSCandProfileClass": (
        Block("B013", b013_css_registration, False, 0.5),
        Block("B032", b032_profile_class_ssc),
    ),
    "IF-061/MDRStart": _IF061_BLOCKS,
    "IF-062/MDRStartResponse": _IF061_BLOCKS,
    "IF-063/MDRStop": (Block("B083", b083_mdr_end), _B060),
    "IF-064/MDRConsumption": (Block("B045", b045_measurement_quantity), Block("B941List", b941_list), _B060),
    "IF-065/ReadingRemote": (
        Block("B076List", b076_cumulative_readings, False, 0.9),
        Block("B065List", b065_configurable_readings, False, 0.6),
        _B060,
    ),
    "IF-065/MDRInstantaneous": (_B060,),
    "IF-065/MDRTOU": (Block("B077", b077_reference_time), _B060),
    "IF-065/MDRConsumption": (Block("B077", b077_reference_time), _B060),
}

# What a reference participant answers with (A-CONSUMPTION-RESPONSE, IF-061 -> IF-062).
RESPONSES: dict[str, tuple[str, str]] = {
    "IF-061/MDRStart": ("IF-062", "MDRStartResponse"),
    "IF-065/MDRInstantaneous": ("IF-065", "ReadingRemote"),
    "IF-065/MDRTOU": ("IF-065", "ReadingRemote"),
    "IF-065/MDRConsumption": ("IF-064", "MDRConsumption"),
}


# Optional blocks of which a meaningful message carries at least one (checks rule content.empty):
# a [ReadingRemote] without any reading says nothing. The first is added when chance left out all.
AT_LEAST_ONE: dict[str, tuple[str, ...]] = {"IF-065/ReadingRemote": ("B076List", "B065List")}


def custom_block(ctx: Context) -> dict:
    blocks = EVENT_BLOCKS.get(ctx.event.key)
    if blocks is None:
        raise UsageError(f"no sample content defined for {ctx.event.key}")
    custom = {}
    for block in blocks:
        if block.required or ctx.src.chance(block.presence):
            custom[block.key] = block.build(ctx)
    wanted = AT_LEAST_ONE.get(ctx.event.key, ())
    if wanted and not any(key in custom for key in wanted):
        custom[wanted[0]] = next(b for b in blocks if b.key == wanted[0]).build(ctx)
    return custom


def r0_block(ctx: Context) -> dict:
    """R0 of a response (IF-062: appointment accepted) or of a registration notification."""
    src = ctx.src
    code = src.choice(RESPONSE_CODES, prefer=("A",))
    kind = "rejection" if code == "R" else "message"  # messages agree with the code (r0.inconsistent)
    if ctx.event.interface_id == "IF-062":
        return {"responseCode": code, "responseMessages": [src.text(kind)]}
    count = src.integer(0, 2, prefer=(0,))
    return {"responseCode": code, "responseMessages": [src.text(kind) for _ in range(count)]}


def common_block(ctx: Context, *, form: Form = "ingress") -> dict:
    """S0, S1, A0 (addressed to the recipient), M0, R0 when the interface requires it; D0 on egress."""
    now = ctx.now
    sender = ctx.sender
    sur = ids.sender_unique_reference(ctx.event.interface_id, sender.dip_id, sender.role, now, ctx.src.text("unique"))
    block: dict[str, Any] = {
        "S0": {
            "interfaceID": ctx.event.interface_id,
            "schemaVersion": load_catalogue().schema_version,
            "eventCode": ctx.event.code,
        },
        "S1": {
            "environmentTag": ctx.environment,
            "subText": None,
            "senderUniqueReference": sur,
            "senderTimestamp": ids.dip_timestamp(now),
            "senderDIPID": sender.dip_id,
            "senderCorrelationID": ctx.correlation_id,
            "DIPConnectionProviderID": sender.dcp_id,
            "senderRoleID": sender.role,
        },
        "A0": {"primaryRecipients": [ctx.recipient.dip_id], "secondaryRecipients": [], "always": []},
        "M0": {"MPANCore": ctx.mpan, "distributorDIPID": DISTRIBUTOR_DIP_IDS[ctx.gsp], "GSPGroupID": ctx.gsp},
    }
    if load_catalogue().get(ctx.event.interface_id).r0_required:
        block["R0"] = r0_block(ctx)
    if form == "egress":
        add_d0(block, ctx.src, now + timedelta(seconds=ctx.src.integer(1, 5, prefer=(2,))))
    return block


def add_d0(
    common: dict,
    src: Source,
    moment: datetime,
    *,
    transaction_id: str | None = None,
    replay: bool = False,
    recipients: list[str] | None = None,
) -> dict:
    """Complete a CommonBlock as the DIP delivers it: D0 added, A0 present with all three lists."""
    s0, s1 = common["S0"], common["S1"]
    publication = load_catalogue().get(s0["interfaceID"]).publication_id
    d0 = {
        "transactionID": transaction_id
        or ids.transaction_id(s0["interfaceID"], s1["senderDIPID"], s1["senderRoleID"], moment, src.text("unique")),
        "transactionTimestamp": ids.dip_timestamp(moment),
        "publicationID": publication,
        "initialCorrelationID": s1.get("senderCorrelationID"),
        "replayIndicator": replay,
        "serviceTicketURL": None,
    }
    a0 = dict(common.get("A0") or {})
    if recipients is not None:
        a0["primaryRecipients"] = list(recipients)
    for key in ("primaryRecipients", "secondaryRecipients", "always"):
        a0.setdefault(key, [])
    ordered = {k: common[k] for k in ("S0", "S1") if k in common}
    ordered["A0"] = a0
    ordered["D0"] = d0
    ordered.update({k: v for k, v in common.items() if k not in ordered})
    common.clear()
    common.update(ordered)
    return common


def build_item(ctx: Context, *, form: Form = "ingress", custom: Mapping[str, Any] | None = None) -> dict:
    """One wire item `{"payload": {...}}` for ctx.event; `custom` overrides blocks (None removes one)."""
    if form not in FORMS:
        raise UsageError(f"unknown message form {form!r} (expected one of: {', '.join(FORMS)})")
    common = common_block(ctx, form=form)
    body = custom_block(ctx)
    for key, value in (custom or {}).items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = copy.deepcopy(value)
    return {"payload": {"CommonBlock": common, "CustomBlock": body}}


def default_recipient_role(event: Event, sender_role: str) -> str:
    """The partner of an MDR/SDS flow; for REGS/SUP notifications the MDR (ours to certify)."""
    for role in ("MDR", "SDS"):
        if role in event.receivers and role != sender_role:
            return role
    return next((r for r in event.receivers if r in DEFAULT_PARTIES), event.receivers[0])


# --- the factory -----------------------------------------------------------------------------

_BASE_NOW = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)


def default_now(seed: int) -> datetime:
    """A fixed moment for a seed, spread over a year so samples meet both GMT and BST."""
    return _BASE_NOW + timedelta(seconds=random.Random(f"now:{seed}").randrange(365 * 86400))


class SampleFactory:
    """Realistic messages; the same seed (and `now`) gives the same messages in the same order."""

    def __init__(
        self,
        seed: int = 0,
        *,
        environment: str = "UIT",
        now: datetime | None = None,
        parties: Mapping[str, Party] | None = None,
    ) -> None:
        if environment not in ENVIRONMENTS:
            raise UsageError(f"unknown environment {environment!r} (expected one of: {', '.join(ENVIRONMENTS)})")
        if now is not None and now.tzinfo is None:
            raise UsageError("now must be timezone-aware")
        self.seed = seed
        self.environment = environment
        self.now = (now or default_now(seed)).replace(microsecond=0)
        # Drawn for the seed unless the caller names the parties (those a hub has registered).
        self.parties: dict[str, Party] = {**seeded_parties(seed), **(parties or {})}
        self.src = RandomSource(seed)
        self.rng = self.src.rng

    def _party(self, role: str) -> Party:
        if role not in self.parties:
            raise UsageError(f"no party for role {role!r} (known: {', '.join(self.parties)})")
        return self.parties[role]

    def context(
        self,
        interface_id: str,
        event: str | None = None,
        *,
        sender: Party | None = None,
        recipients: list[str] | None = None,
        mpan: str | None = None,
        gsp: str | None = None,
        correlation_id: str | None = None,
        days: int = 1,
        direction: str | None = None,
        now: datetime | None = None,
    ) -> Context:
        """The building context for one message; exposed for the reference participants."""
        ev = load_catalogue().event(interface_id, event)
        if not 1 <= days <= 10000:
            raise UsageError(f"days should be between 1 and 10000, got {days}")
        sender = sender or self._party(ev.sender)
        recipient = self._party(default_recipient_role(ev, sender.role))
        if recipients:
            recipient = replace(recipient, dip_id=recipients[0])
        if gsp is not None and gsp not in ids.GSP_DISTRIBUTOR:
            raise UsageError(f"unknown GSP group {gsp!r} (expected one of: {', '.join(GSP_GROUPS)})")
        if mpan is not None:
            if not ids.is_valid_mpan(mpan):
                raise UsageError(f"MPAN core {mpan!r} is not 13 digits with a valid check digit")
            gsp = gsp or ids.gsp_for_mpan(mpan) or self.rng.choice(GSP_GROUPS)
        else:
            gsp = gsp or self.rng.choice(GSP_GROUPS)
            mpan = ids.make_mpan(self.rng, gsp)
        moment = (now or self.now).replace(microsecond=0)
        if correlation_id is None and self.rng.random() < 0.85:
            correlation_id = ids.correlation_id(moment, self.rng)
        return Context(
            src=self.src,
            now=moment,
            event=ev,
            sender=sender,
            recipient=recipient,
            parties=self.parties,
            mpan=mpan,
            gsp=gsp,
            environment=self.environment,
            days=days,
            direction=direction or ("I" if self.rng.random() < 0.85 else "E"),
            correlation_id=correlation_id,
            extra={"recipients": recipients},
        )

    def message(
        self,
        interface_id: str,
        event: str | None = None,
        *,
        sender: Party | None = None,
        recipients: list[str] | None = None,
        mpan: str | None = None,
        gsp: str | None = None,
        correlation_id: str | None = None,
        form: Form = "ingress",
        days: int = 1,
        custom: dict | None = None,
        direction: str | None = None,
        now: datetime | None = None,
    ) -> dict:
        """ONE wire item `{"payload": {...}}` as its sender would POST it (or, egress, as delivered)."""
        ctx = self.context(
            interface_id,
            event,
            sender=sender,
            recipients=recipients,
            mpan=mpan,
            gsp=gsp,
            correlation_id=correlation_id,
            days=days,
            direction=direction,
            now=now,
        )
        item = build_item(ctx, form=form, custom=custom)
        if recipients:
            item["payload"]["CommonBlock"]["A0"]["primaryRecipients"] = list(recipients)
        return item

    def body(self, interface_id: str, event: str | None = None, *, count: int = 1, **kw: Any) -> list[dict]:
        """The JSON array a sender POSTs: `count` messages, each with its own reference."""
        if count < 1:
            raise UsageError(f"count should be at least 1, got {count}")
        return [self.message(interface_id, event, **kw) for _ in range(count)]

    def egress(
        self,
        item: dict,
        *,
        transaction_id: str | None = None,
        replay: bool = False,
        recipients: list[str] | None = None,
    ) -> dict:
        """A copy of `item` as the DIP delivers it to a webhook (A-D0-EGRESS)."""
        out = copy.deepcopy(item)
        common = out["payload"]["CommonBlock"]
        sent = ids.parse_dip_timestamp(common["S1"]["senderTimestamp"])
        add_d0(
            common,
            self.src,
            sent + timedelta(seconds=self.rng.randint(1, 5)),
            transaction_id=transaction_id,
            replay=replay,
            recipients=recipients,
        )
        return out

    def common_block(self, interface_id: str, event: str | None = None, *, form: Form = "ingress", **kw: Any) -> dict:
        """Just the CommonBlock of a new message (context keywords as for `message`)."""
        return common_block(self.context(interface_id, event, **kw), form=form)

    def consumption_days(self, start: date, days: int, direction: str = "I") -> list[dict]:
        """B941 items for `days` UTC settlement days from `start` (direction I import, E export)."""
        return consumption_days(self.src, start, days, direction)

    def response_to(
        self, request: dict, *, sender: Party | None = None, accepted: bool = True, form: Form = "ingress"
    ) -> dict:
        """What the partner answers to `request` (RESPONSES): same MPAN, correlation copied back.

        IF-062 echoes IF-061's CustomBlock with R0; IF-064 covers the day of IF-065's B077.
        """
        payload = request["payload"]
        common = payload["CommonBlock"]
        key = f"{common['S0']['interfaceID']}/{common['S0']['eventCode'].strip('[]')}"
        if key not in RESPONSES:
            raise UsageError(f"{key} is not a request this factory can answer (known: {', '.join(RESPONSES)})")
        interface_id, event = RESPONSES[key]
        s1 = common["S1"]
        correlation = s1.get("senderCorrelationID") or (common.get("D0") or {}).get("initialCorrelationID")
        m0 = common["M0"]
        ctx = self.context(
            interface_id,
            event,
            sender=sender,
            recipients=[s1["senderDIPID"]],
            mpan=m0["MPANCore"],
            gsp=m0["GSPGroupID"],
            correlation_id=correlation or None,
        )
        ctx.correlation_id = correlation
        custom: dict[str, Any] | None = None
        request_custom = payload.get("CustomBlock") or {}
        if interface_id == "IF-062":
            custom = copy.deepcopy(request_custom)
        elif interface_id == "IF-064" and "B077" in request_custom:
            reference = ids.parse_dip_timestamp(request_custom["B077"]["MDRReferenceDateTime"])
            ctx.extra["quantity"] = "AI"
            custom = {
                "B045": {"measurementQuantityID": "AI"},
                "B941List": consumption_days(self.src, reference.date(), 1, "I"),
            }  # the day as written
        item = build_item(ctx, form=form, custom=custom)
        item["payload"]["CommonBlock"]["A0"]["primaryRecipients"] = [s1["senderDIPID"]]
        if interface_id == "IF-062":
            r0 = (
                {"responseCode": "A", "responseMessages": [ACCEPTED]}
                if accepted
                else {"responseCode": "R", "responseMessages": ["SP007 - Out of Operational Area"]}
            )
            item["payload"]["CommonBlock"]["R0"] = r0
        return item


def sample_message(
    interface_id: str,
    event: str | None = None,
    *,
    seed: int = 0,
    environment: str = "UIT",
    now: datetime | None = None,
    **kw: Any,
) -> dict:
    """One realistic wire item for a seed: `sample_message("IF-061", seed=3)`."""
    return SampleFactory(seed, environment=environment, now=now).message(interface_id, event, **kw)
