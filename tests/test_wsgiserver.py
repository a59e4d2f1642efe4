"""The hub's WSGI server (harness.dip.wsgiserver): a thread per connection, kept for the next one."""

from __future__ import annotations

import socket
import threading

import httpx
from dipkit import serving
from werkzeug.serving import ThreadedWSGIServer
from werkzeug.wrappers import Request, Response

from harness.dip.server import Hub
from harness.dip.wsgiserver import ReusingWSGIServer

BOUND = 10.0  # seconds: every wait in these tests is on an event, with this bound


class App:
    """Records the thread that answers each request; `/hold` answers only once `release` is set."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []  # objects: an ended thread's ident is reused
        self.holding = threading.Event()
        self.release = threading.Event()

    @Request.application
    def __call__(self, request: Request) -> Response:
        self.threads.append(threading.current_thread())
        if request.path == "/hold":
            self.holding.set()
            if not self.release.wait(BOUND):
                return Response("never released", status=500)
        if request.path == "/boom":
            raise RuntimeError("the app failed")
        return Response("ok", status=200)


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=BOUND, trust_env=False)


def test_one_thread_answers_one_caller_after_another() -> None:
    app = App()
    server = ReusingWSGIServer("127.0.0.1", 0, app)
    with serving(server) as base:
        for _ in range(5):
            assert get(base + "/").status_code == 200
            assert server.wait_idle(1, BOUND)  # the answer comes before its thread is free again
        assert len(set(app.threads)) == 1
        assert server.live_threads() == 1


def test_werkzeug_alone_starts_a_thread_per_connection() -> None:
    """The comparison the reuse is for: without it, five calls, five threads."""
    app = App()
    with serving(ThreadedWSGIServer("127.0.0.1", 0, app)) as base:
        for _ in range(5):
            assert get(base + "/").status_code == 200
    assert len(set(app.threads)) == 5


def test_a_held_request_does_not_hold_up_another_caller() -> None:
    app = App()
    server = ReusingWSGIServer("127.0.0.1", 0, app)
    with serving(server) as base:
        held: list[httpx.Response] = []
        caller = threading.Thread(target=lambda: held.append(get(base + "/hold")), daemon=True)
        caller.start()
        assert app.holding.wait(BOUND)
        assert get(base + "/").status_code == 200  # answered while /hold still waits
        assert server.live_threads() == 2
        app.release.set()
        caller.join(BOUND)
        assert held and held[0].status_code == 200
        assert server.wait_idle(2, BOUND)
        assert get(base + "/").status_code == 200
        assert server.live_threads() == 2  # both kept; the next caller takes one of them
        assert len(set(app.threads)) == 2


def test_a_failing_app_gets_500_and_its_thread_serves_on() -> None:
    app = App()
    server = ReusingWSGIServer("127.0.0.1", 0, app)
    with serving(server) as base:
        assert get(base + "/boom").status_code == 500
        assert server.wait_idle(1, BOUND)
        assert get(base + "/").status_code == 200
        assert len(set(app.threads)) == 1


def test_an_idle_thread_ends_after_its_idle_time_and_a_new_one_serves() -> None:
    app = App()
    server = ReusingWSGIServer("127.0.0.1", 0, app)
    server.idle_seconds = 0.05
    with serving(server) as base:
        assert get(base + "/").status_code == 200
        [thread] = list(server._workers)  # noqa: SLF001 - the thread to wait for
        thread.join(BOUND)
        assert not thread.is_alive()
        assert server.live_threads() == 0
        assert get(base + "/").status_code == 200
        assert server.live_threads() == 1


def test_close_waits_for_the_request_in_progress_and_ends_idle_threads() -> None:
    app = App()
    server = ReusingWSGIServer("127.0.0.1", 0, app)
    held: list[httpx.Response] = []
    with serving(server) as base:
        assert get(base + "/").status_code == 200  # one idle thread
        caller = threading.Thread(target=lambda: held.append(get(base + "/hold")), daemon=True)
        caller.start()
        assert app.holding.wait(BOUND)
        closing = threading.Thread(target=lambda: (server.shutdown(), server.server_close()), daemon=True)
        closing.start()
        closing.join(0.2)  # a check that something does NOT happen: close still waits for /hold
        assert closing.is_alive()
        app.release.set()
        closing.join(BOUND)
        assert not closing.is_alive()
        caller.join(BOUND)
    assert held and held[0].status_code == 200
    assert server.live_threads() == 0


def test_the_hub_serves_on_reused_threads() -> None:
    with Hub() as hub:
        server = hub._server  # noqa: SLF001
        assert isinstance(server, ReusingWSGIServer)
        for _ in range(4):
            assert get(hub.base_url + "/dipcert/v1/dip").status_code == 200
            assert server.wait_idle(1, BOUND)
        assert server.live_threads() == 1


def test_a_connection_that_never_sends_its_request_holds_close_only_for_its_bound() -> None:
    server = ReusingWSGIServer("127.0.0.1", 0, App())
    server.close_seconds = 0.2
    with serving(server) as base:
        silent = socket.create_connection(("127.0.0.1", server.server_port), timeout=BOUND)
        try:
            assert get(base + "/").status_code == 200  # served on another thread meanwhile
            closing = threading.Thread(target=lambda: (server.shutdown(), server.server_close()), daemon=True)
            closing.start()
            closing.join(BOUND)
            assert not closing.is_alive()
        finally:
            silent.close()


def test_wait_idle_is_false_after_its_bound_while_a_request_is_held() -> None:
    app = App()
    server = ReusingWSGIServer("127.0.0.1", 0, app)
    with serving(server) as base:
        caller = threading.Thread(target=lambda: get(base + "/hold"), daemon=True)
        caller.start()
        assert app.holding.wait(BOUND)
        assert server.wait_idle(1, 0.05) is False  # a bound that runs out: the one thread is busy
        app.release.set()
        caller.join(BOUND)
        assert server.wait_idle(1, BOUND) is True
