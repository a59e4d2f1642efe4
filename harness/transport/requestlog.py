"""werkzeug's request log line without its colours where colour is not wanted.

werkzeug styles the status of every logged request with ANSI codes whatever the output is: a log
file, a pipe, or a terminal whose user set `NO_COLOR` (https://no-color.org). The servers dipcert
starts (reference participants, the simulated DIP) log through this handler instead.
"""

from __future__ import annotations

import os
import sys

from werkzeug.serving import WSGIRequestHandler


def colour_wanted() -> bool:
    """Colour only for a terminal on stderr (where werkzeug logs) and never with NO_COLOR set."""
    return not os.environ.get("NO_COLOR") and sys.stderr.isatty()


class PlainRequestHandler(WSGIRequestHandler):
    """The same request line as werkzeug's, uncoloured."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        code = getattr(code, "value", code)  # an HTTPStatus
        self.log("info", '"%s" %s %s', self.requestline, code, size)


def request_handler() -> type[WSGIRequestHandler]:
    """The handler class for `make_server`: werkzeug's own on a colour terminal, plain otherwise."""
    return WSGIRequestHandler if colour_wanted() else PlainRequestHandler
