"""The reports of a run folder: summary.json, report.html, junit.xml and allure-results/.

Everything is rendered from `evidence.jsonl` (and the message bodies under `messages/`) alone, so
`dipcert report` can re-render any bundle, and the same evidence always gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path

from harness.core.errors import InputError
from harness.evidence.bundle import summary_errors, write_summary
from harness.evidence.recorder import EVIDENCE_FILE
from harness.evidence.safejson import read_bundle_records
from harness.report.allure import write_allure
from harness.report.html import render_html
from harness.report.junit import write_junit
from harness.report.summary import build_summary
from harness.report.terminal import terminal_summary

#: key -> file (or folder) name inside the output folder.
REPORT_FILES = {"summary": "summary.json", "html": "report.html", "junit": "junit.xml",
                "allure": "allure-results"}


def run_records(folder: Path | str, *, label: Path | str | None = None) -> list[dict]:
    """The evidence records of a run folder; InputError (naming `label`, default the folder) when there are none."""
    log = Path(folder) / EVIDENCE_FILE
    if not log.is_file():
        raise InputError(f"{label or folder}: no {EVIDENCE_FILE} (expected a dipcert run folder or bundle)")
    records = read_bundle_records(log, f"{label}: {EVIDENCE_FILE}" if label else str(log))  # hostile bundles: exit 2
    if not records:
        raise InputError(f"{label or log}: no readable evidence records")
    return records


def render_reports(folder: Path | str, *, out: Path | str | None = None) -> dict[str, Path]:
    """Writes summary.json, report.html, junit.xml and allure-results/ for the run in `folder`.

    `out` defaults to `folder` itself (before `finalise_bundle`); `dipcert report` renders into a
    separate folder, so that a finalised bundle's hashed files stay untouched.
    Raises InputError when the folder holds no readable evidence.
    """
    source = Path(folder)
    target = Path(out) if out is not None else source
    log = source / EVIDENCE_FILE
    records = run_records(source)
    summary = build_summary(records)
    problems = summary_errors(summary)
    if problems:
        raise InputError(f"{log}: the run-start record cannot make a valid summary.json ({problems[0]})")
    target.mkdir(parents=True, exist_ok=True)
    paths = {"summary": write_summary(target, summary, validated=True)}
    html = render_html(summary, records, source)
    paths["html"] = target / REPORT_FILES["html"]
    paths["html"].write_bytes(html.encode("utf-8"))
    paths["junit"] = write_junit(target / REPORT_FILES["junit"], summary, records)
    paths["allure"] = write_allure(target / REPORT_FILES["allure"], summary, records, source)
    return paths

# -- public face (what other layers use; tests/test_architecture.py keeps it complete) --
# (after the package's own definitions above: its modules import them)
from harness.report.allure import check_steps, report_steps  # noqa: E402
from harness.report.bodies import Bodies  # noqa: E402
from harness.report.curl import curl_command, variables  # noqa: E402
from harness.report.replay import (  # noqa: E402
    DELIVERED,
    differences,
    load_dip_identity,
    pick,
    prepare,
    recorded_answer,
    recorded_dip_signer,
    send,
)
from harness.report.sequence import message_label  # noqa: E402
from harness.report.summary import run_info  # noqa: E402

__all__ = [
    "Bodies", "DELIVERED", "check_steps", "curl_command", "differences", "load_dip_identity", "message_label",
    "pick", "prepare", "recorded_answer", "recorded_dip_signer", "render_reports", "report_steps", "run_info",
    "run_records", "send", "terminal_summary", "variables",
]
