"""Command-line conventions: one line and exit 2 for a bad --out, 130/143 and a clean-up for Ctrl-C
and SIGTERM, no colour where it is not wanted, no 80-column wrapping in pipes, prefixed plugin options."""

from __future__ import annotations

import io
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
from rich.table import Table
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Response

from harness.cli import main
from harness.commands.console import PIPED_WIDTH, make_console
from harness.run.demo import run_demo
from harness.transport.requestlog import PlainRequestHandler, request_handler

TIMEOUT = 30.0


PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "profiles" / "mdr-example.toml"


@pytest.mark.parametrize("command", [["demo"], ["run", "--profile", str(PROFILE)], ["samples", "IF-061"]])
def test_an_out_that_is_a_file_is_one_line_and_exit_2(command: list[str], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "taken"
    a_file.write_text("not a folder")
    assert main([*command, "--out", str(a_file)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{a_file}: --out must be a folder, and this is a file" in err


def test_an_out_below_a_file_cannot_be_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").write_text("")
    assert main(["samples", "IF-061", "--out", str(tmp_path / "taken" / "below")]) == 2
    assert "cannot create the --out folder" in capsys.readouterr().err


def test_ctrl_c_stops_the_whole_demo_and_removes_its_scratch_keys(tmp_path: Path) -> None:
    """Interrupted during the MDR's run, the demo writes the MDR's incomplete bundle and does not
    go on to certify the SDS; the scratch PKI (private keys) is gone."""
    before = set(Path(tempfile.gettempdir()).glob("dipcert-demo-*"))

    def interrupt(requirement: object, verdict: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_demo(tmp_path, timeout=5.0, on_requirement=interrupt)
    runs = [p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert [p.name.split("-")[1] for p in runs] == ["MDR"]
    assert set(Path(tempfile.gettempdir()).glob("dipcert-demo-*")) == before


def _line_matching(process: subprocess.Popen, pattern: str, bound: float) -> str:
    """The first stdout line matching `pattern`, waited for within `bound` seconds.

    Lines are read by a thread into a queue: select() on the pipe cannot see lines already read into
    the text wrapper's buffer (several lines written at once), so it would wait for output that came."""
    lines = _lines(process)
    deadline = time.monotonic() + bound
    seen = []
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if re.search(pattern, line):
            return line
    raise AssertionError(f"no line matching {pattern!r} within {bound} s: {seen}")


_READERS: dict[int, queue.Queue] = {}


def _lines(process: subprocess.Popen) -> queue.Queue:
    if process.pid not in _READERS:
        found: queue.Queue = queue.Queue()

        def read() -> None:
            for line in process.stdout:  # type: ignore[union-attr]
                found.put(line)
            found.put(None)

        threading.Thread(target=read, daemon=True).start()
        _READERS[process.pid] = found
    return _READERS[process.pid]


def test_sigterm_ends_serve_reference_with_143_and_removes_its_throwaway_keys() -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    process = subprocess.Popen([sys.executable, "-m", "harness.cli", "serve-reference", "mdr", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = _line_matching(process, r"signing certificate", TIMEOUT)
        keys = Path(re.search(r"signing certificate (\S+)\)", line).group(1)).parent
        assert (keys / "dip.crt").is_file() and any(p.suffix == ".key" for p in keys.iterdir())
        _line_matching(process, r"Ctrl-C to stop", TIMEOUT)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=TIMEOUT) == 143
        assert "serve-reference: terminated" in process.stderr.read()
        assert not keys.exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=TIMEOUT)


def _logged_line(handler: type[WSGIRequestHandler], caplog: pytest.LogCaptureFixture) -> str:
    server = make_server("127.0.0.1", 0, lambda environ, start: Response("gone", 404)(environ, start),
                         threaded=True, request_handler=handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            assert httpx.get(f"http://127.0.0.1:{server.port}/missing", timeout=TIMEOUT).status_code == 404
            server.shutdown()
            thread.join(TIMEOUT)
    finally:
        server.server_close()
    return "\n".join(r.getMessage() for r in caplog.records if "/missing" in r.getMessage())


def test_request_logs_carry_no_colour_where_it_is_not_wanted(caplog: pytest.LogCaptureFixture,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert "\x1b[" in _logged_line(WSGIRequestHandler, caplog)  # werkzeug's own: coloured, whatever the output
    caplog.clear()
    plain = _logged_line(PlainRequestHandler, caplog)
    assert '"GET /missing HTTP/1.1" 404' in plain and "\x1b" not in plain
    monkeypatch.setenv("NO_COLOR", "1")
    assert request_handler() is PlainRequestHandler
    monkeypatch.delenv("NO_COLOR")
    assert request_handler() is PlainRequestHandler  # stderr is not a terminal under pytest


def test_piped_output_does_not_split_requirement_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    out = io.StringIO()
    console = make_console(file=out)
    assert console.width == PIPED_WIDTH
    table = Table("verdict", "requirement", "finding")
    requirement = "MDR-5.2a/IF-065/consume/MDRConsumption"
    table.add_row("fail", requirement, "x" * 60)
    console.print(table)
    assert requirement in out.getvalue()
    monkeypatch.setenv("COLUMNS", "100")
    assert make_console(file=io.StringIO()).width == 100


def test_the_plugin_options_are_prefixed(tmp_path: Path) -> None:
    """A bare --spec would collide with the pytest-spec plugin."""
    result = subprocess.run([sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert "--dipcert-spec" in result.stdout
    assert not re.search(r"^\s+--spec\b", result.stdout, re.MULTILINE)


def _pytest_in(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=project,
                          capture_output=True, text=True, timeout=4 * TIMEOUT)  # xdist starts two interpreters


def test_the_plugin_lends_no_fixture_to_an_unrelated_project(tmp_path: Path) -> None:
    """A project's test asking for `profile`, `hub` or `samples` it never defined gets pytest's error,
    not dipcert's fixture (which would skip it)."""
    (tmp_path / "test_theirs.py").write_text(
        "def test_uses_profile(profile):\n    pass\n\n"
        "def test_uses_httpserver(httpserver):\n    assert httpserver.url_for('/')\n")  # another plugin works
    done = _pytest_in(tmp_path, "-rA")
    assert done.returncode == 1, done.stdout
    assert "fixture 'profile' not found" in done.stdout
    assert "1 passed" in done.stdout and "skipped" not in done.stdout


def test_xdist_workers_with_a_profile_are_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    refused = _pytest_in(tmp_path, "-n", "2", "--dipcert-profile", "whatever.toml")
    assert refused.returncode == 4
    assert "cannot be split across pytest-xdist workers (-n 2)" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _pytest_in(tmp_path, "-n", "2").returncode == 0  # without a profile, dipcert has no say
