"""The stand-in's answers: the `{code, message, data}` envelope and its failures.

Success is HTTP 200 `{"code":0,"message":"success","data":{...}}`. A `Failure` raised
by a handler becomes the error answer: backend codes (1001, 1002, 2001, 4001, 4002)
travel as HTTP 200 with a non-zero `code`; HTTP errors (400, 402, 404, 429, 5xx) as
that status with `{"code": <status>, "message": ...}`. A scenario may give both.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

HTTP_OK = 200


class Failure(Exception):
    """An error answer: raise it anywhere in a handler."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is None:
            status = code if code is not None and _is_http(code) else HTTP_OK
        self.status = status
        self.code = code if code is not None else status
        self.headers = headers or {}

    def response(self) -> web.Response:
        body = {"code": self.code, "message": self.message}
        return web.json_response(body, status=self.status, headers=self.headers)


def ok(data: Any) -> web.Response:
    return web.json_response({"code": 0, "message": "success", "data": data})


def _is_http(code: int) -> bool:
    return 100 <= code <= 599
