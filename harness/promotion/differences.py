"""Every difference between the certified configuration and the production one, and whether it is allowed.

The certified configuration is the public profile a bundle recorded at run start (secret references
only); the production one is the production profile's. Both are flattened to dotted keys
(`party.dip_id`, `interfaces.IF-061`, ...) and each key that differs is judged by the first rule of
`RULES` whose prefix it has. What may change is what differs between UIT and production by nature
(DIP ID, credentials, webhook URLs, the harness's own settings); what may not is what certification
proved: the party, the system, the DCP, and no interface beyond those certified.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

PRODUCTION_ENVIRONMENT = "PRD"


@dataclass(frozen=True)
class Difference:
    key: str  # dotted profile key, e.g. "party.dip_id"
    certified: Any  # None: not set in the certified configuration
    production: Any  # None: not set in the production one
    allowed: bool
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "certified": self.certified, "production": self.production, "allowed": self.allowed,
                "why": self.why}


Judge = Callable[[Any, Any], tuple[bool, str]]


def _fixed(what: str) -> Judge:
    return lambda _c, _p: (False, f"{what}: what was certified cannot change on promotion")


def _free(what: str) -> Judge:
    return lambda _c, _p: (True, what)


def _environment(_certified: Any, production: Any) -> tuple[bool, str]:
    if production == PRODUCTION_ENVIRONMENT:
        return True, "promotion moves the configuration from UIT to production"
    return False, f"a production profile names environment = \"{PRODUCTION_ENVIRONMENT}\""


def enabled(value: Any) -> bool:
    """An interface entry of a public profile: `true`/`false`, or `{"enabled", "direction"}`."""
    return bool(value.get("enabled")) if isinstance(value, Mapping) else bool(value)


def _interface(certified: Any, production: Any) -> tuple[bool, str]:
    if enabled(production) and not enabled(certified):
        return False, "newly enabled: a flow not certified in UIT cannot be promoted (certify it first)"
    if not enabled(production):
        return True, "disabled in production: fewer interfaces than certified"
    return False, "the declared direction changed: not the flow that was certified"


def _qualification(_certified: Any, production: Any) -> tuple[bool, str]:
    if production is None:
        return True, "not restated in the production profile: the certification bundle holds the statement"
    return False, "the MHHS-DEL1384 statement differs from the one certified with the bundle"


# (prefix, judge): the first whose prefix the key has (exactly, or followed by ".") decides.
RULES: tuple[tuple[str, Judge], ...] = (
    ("environment", _environment),
    ("party.dip_id", _free("the production DIP ID (checked: set, and well formed)")),
    ("party.dcp_id", _fixed("the DCP Id registered for the DIP ID")),
    ("party", _fixed("the certified party")),
    ("system", _fixed("the certified system (its fingerprint)")),
    ("interfaces", _interface),
    ("webhooks", _free("the production webhook (checked: https, answers a signed empty probe)")),
    ("credentials", _free("the production credentials (checked: API keys, certificates valid and trusted)")),
    ("partner", _free("the nominated partner is a UIT certification arrangement")),
    ("triggers", _free("how dipcert asks the party to send: a harness setting, not DIP configuration")),
    ("harness", _free("a harness setting, not DIP configuration")),
    ("exchange", _free("how the harness ran the exchanges, not DIP configuration")),
    ("policy", _free("how the harness judged advisory requirements, not DIP configuration")),
    ("qualification", _qualification),
)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys to leaf values; an interface entry stays whole (it is judged as one value)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and not name.startswith("interfaces."):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def judge(key: str, certified: Any, production: Any) -> tuple[bool, str]:
    for prefix, rule in RULES:
        if key == prefix or key.startswith(prefix + "."):
            return rule(certified, production)
    return False, "not a setting dipcert knows: review it before promoting"


def config_differences(certified: Mapping[str, Any], production: Mapping[str, Any]) -> list[Difference]:
    """Every key whose value differs (or is set on one side only), in key order, each judged."""
    a, b = flatten(certified), flatten(production)
    out = []
    for key in sorted(set(a) | set(b)):
        if key.startswith("interfaces.") and enabled(a.get(key)) == enabled(b.get(key)) and \
                _direction(a.get(key)) == _direction(b.get(key)):
            continue  # `false` and `{"enabled": false, ...}` say the same
        if a.get(key) != b.get(key):
            allowed, why = judge(key, a.get(key), b.get(key))
            out.append(Difference(key, a.get(key), b.get(key), allowed, why))
    return out


def _direction(value: Any) -> Any:
    return value.get("direction") if isinstance(value, Mapping) and enabled(value) else None
