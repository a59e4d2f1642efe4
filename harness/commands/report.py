"""`dipcert report BUNDLE`: re-render a bundle's reports from its evidence alone.

Why into a separate folder by default: a finalised bundle's files are hashed in its manifest, so
writing into it would make `verify` fail. The re-rendered reports land next to the bundle in
`<run-id>-report/` (or `--out`), and the paths are printed.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

HELP = "Re-render summary.json, report.html, junit.xml and allure-results/ of a bundle (folder or .dipcert.zip)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, help="run folder or <run-id>.dipcert.zip")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder to write the reports into (default: <run-id>-report next to the bundle)")


def default_out(bundle: Path, run_id: str | None) -> Path:
    name = run_id or bundle.name.removesuffix(".dipcert.zip").removesuffix(".zip")
    return bundle.resolve().parent / f"{name}-report"


def run(args: argparse.Namespace) -> int:
    from harness.commands.console import make_console
    from harness.core.errors import InputError
    from harness.core.files import output_folder
    from harness.evidence.safezip import open_bundle
    from harness.report import render_reports, run_records, terminal_summary
    from harness.report.summary import run_info

    bundle: Path = args.bundle
    scratch = Path(tempfile.mkdtemp(prefix="dipcert-report-")) if bundle.is_file() else None
    try:
        folder = open_bundle(bundle, into=scratch)
        records = run_records(folder, label=bundle)
        out = args.out or default_out(bundle, str(run_info(records).get("run_id") or "") or None)
        if scratch is None and out.resolve() == folder.resolve():
            raise InputError(f"{out}: --out must not be the bundle itself (its files are hashed in the manifest)")
        paths = render_reports(folder, out=output_folder(out))
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    import json

    summary = json.loads(paths["summary"].read_text("utf-8"))
    console = make_console()
    terminal_summary(summary, console, bundle=bundle)
    for key in ("html", "summary", "junit", "allure"):
        console.print(f"{key}: {paths[key]}", soft_wrap=True)
    return 0 if summary["ready"] else 1
