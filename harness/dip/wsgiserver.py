"""The hub's WSGI server: werkzeug's, with a connection's thread kept for the next connection.

werkzeug's threaded server (socketserver.ThreadingMixIn) starts a thread for every connection and
its development server closes every connection after one response, so each request to the DIP paid
for a new thread: its stack faulted in page by page and a cold interpreter state, 0.25-0.35 ms on
this project's 2-core machines (bench/hub.py prints the figure). Here a thread that has answered
waits for the next connection instead of ending.

What does not change: every accepted connection is handled at once on a thread of its own (a
thread is started when none is idle, with no upper bound, as before), so a long poll (the
extension API's records endpoint) never holds up another caller. An idle thread ends after
IDLE_SECONDS. `server_close` ends the idle threads and gives connections in progress up to
CLOSE_SECONDS to finish (werkzeug's daemon threads were not waited for at all; a connection that
never sends its request must not hold a stop for ever either).
"""

from __future__ import annotations

import queue
import socketserver
import threading
import time
from typing import Any

from werkzeug.serving import BaseWSGIServer

IDLE_SECONDS = 30.0  # an idle thread ends after this: a burst's threads do not outlive it for long
CLOSE_SECONDS = 5.0  # how long server_close waits, in all, for connections in progress

Connection = tuple[Any, Any]  # (socket, client address), as socketserver hands them over


class ReusingThreads(socketserver.ThreadingMixIn):
    """socketserver mixin: each connection on its own thread, reusing a thread that is idle.

    ThreadingMixIn's `process_request_thread` (handle, report an error, close) runs each connection;
    `process_request` and `server_close` are replaced, so its own per-connection threads never start."""

    idle_seconds = IDLE_SECONDS
    close_seconds = CLOSE_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lock = threading.Condition()  # notified when a thread goes idle or ends
        self._idle: list[queue.SimpleQueue[Connection | None]] = []  # one hand-over queue per idle thread
        self._workers: set[threading.Thread] = set()
        self._closing = False
        super().__init__(*args, **kwargs)
        self._closing = False  # given a socket (fd), werkzeug's __init__ closes the one it made first

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            if self._closing:
                slot = None
            elif self._idle:
                slot = self._idle.pop()
            else:
                slot = queue.SimpleQueue()
                thread = threading.Thread(target=self._work, args=(slot,), name="dipcert-hub-request", daemon=True)
                self._workers.add(thread)
                thread.start()
        if slot is None:  # closing: refuse, as a closed listening socket would
            self.shutdown_request(request)  # type: ignore[attr-defined]
            return
        slot.put((request, client_address))

    def _work(self, slot: queue.SimpleQueue[Connection | None]) -> None:
        try:
            while True:
                try:
                    connection = slot.get(timeout=self.idle_seconds)
                except queue.Empty:
                    with self._lock:
                        if slot in self._idle:  # nobody handed it a connection: end
                            self._idle.remove(slot)
                            return
                    continue  # taken just now: its connection is on the way
                if connection is None:
                    return
                self.process_request_thread(*connection)
                with self._lock:
                    if self._closing:
                        return
                    self._idle.append(slot)
                    self._lock.notify_all()
        finally:
            with self._lock:
                self._workers.discard(threading.current_thread())
                self._lock.notify_all()

    def server_close(self) -> None:
        """Close the socket, end idle threads, wait (bounded) for connections in progress."""
        super().server_close()
        with self._lock:
            self._closing = True
            for slot in self._idle:
                slot.put(None)
            self._idle.clear()
            threads = list(self._workers)
        deadline = time.monotonic() + self.close_seconds
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def live_threads(self) -> int:
        """Request threads alive now, busy or idle (for tests and diagnostics)."""
        with self._lock:
            return len(self._workers)

    def wait_idle(self, count: int, timeout: float) -> bool:
        """True once `count` threads are idle, False after `timeout`. A caller has its answer before the
        thread that sent it is idle again (it still closes the connection), so a test that wants the
        next call to reuse that thread waits for this first."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self._idle) >= count, timeout)


class ReusingWSGIServer(ReusingThreads, BaseWSGIServer):
    """werkzeug's WSGI server, a thread per connection, threads reused (see the module docstring)."""

    multithread = True  # wsgi.multithread, and werkzeug's HTTP/1.1 handler, as for its threaded server
