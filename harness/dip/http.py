"""Small HTTP helpers shared by the hub's endpoint modules."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Response

from harness.core.findings import Finding
from harness.transport.apikeys import API_KEY_HEADER

SECRET_HEADERS = (API_KEY_HEADER.lower(), "authorization")


class Reply(Exception):
    """Raised inside a handler to answer at once (auth failures, bad bodies)."""

    def __init__(self, response: Response, findings: list[Finding] | None = None, codes: list[str] | None = None,
                 sender: str | None = None) -> None:
        super().__init__(response.status_code)
        self.response, self.findings, self.codes, self.sender = response, findings or [], codes or [], sender


def json_response(status: int, data: Any) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status=status, content_type="application/json")


def text_response(status: int, text: str) -> Response:
    return Response(text, status=status, content_type="text/plain; charset=utf-8")


def safe_headers(headers: Any) -> dict[str, str]:
    """Request headers as received, minus the API key and a bearer token (secrets never kept)."""
    return {k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS}
