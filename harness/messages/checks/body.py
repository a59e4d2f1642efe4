"""Rules over a whole body (the POSTed or delivered array): what must not repeat within it."""

from __future__ import annotations

import json
from typing import Any

from harness.core.findings import Finding, short
from harness.messages.access import dig
from harness.messages.checks.base import ptr


def _canonical(item: Any) -> str:
    return json.dumps(item, sort_keys=True, ensure_ascii=False, default=str)


def check_body(items: Any) -> list[Finding]:
    """`body.duplicate-message`, `body.duplicate-sur` (MSG1006/RCP1006) and
    `body.duplicate-transaction` (RCP1043): each message, senderUniqueReference and
    D0.transactionID at most once per body. A message repeated whole is reported once, as
    the message, not again as its reference."""
    if not isinstance(items, list) or len(items) < 2:  # one message cannot repeat anything
        return []
    findings: list[Finding] = []
    messages: dict[str, int] = {}
    surs: dict[str, int] = {}
    transactions: dict[str, int] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        text = _canonical(item)
        if text in messages:
            findings.append(Finding("body.duplicate-message", f"/{index}",
                                    "each message once per body", f"the same as item {messages[text]}",
                                    f"item {index} repeats item {messages[text]} exactly (MSG1006)"))
            continue
        messages[text] = index
        common = dig(item, "payload", "CommonBlock")
        sur = dig(common, "S1", "senderUniqueReference")
        if isinstance(sur, str):
            if sur in surs:
                findings.append(Finding("body.duplicate-sur", ptr(index, "CommonBlock", "S1", "senderUniqueReference"),
                                        "a reference used once", f"{short(sur)} (also item {surs[sur]})",
                                        f"items {surs[sur]} and {index} share senderUniqueReference {short(sur)} "
                                        "(MSG1006 / RCP1006)"))
            else:
                surs[sur] = index
        transaction = dig(common, "D0", "transactionID")
        if isinstance(transaction, str):
            if transaction in transactions:
                findings.append(Finding("body.duplicate-transaction", ptr(index, "CommonBlock", "D0", "transactionID"),
                                        "a transaction id used once",
                                        f"{short(transaction)} (also item {transactions[transaction]})",
                                        f"items {transactions[transaction]} and {index} share D0.transactionID "
                                        f"{short(transaction)} (RCP1043)"))
            else:
                transactions[transaction] = index
    return findings
