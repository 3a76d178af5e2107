"""Bounded requests for every service's HTTP app: a body limit per route, enforced while the
body streams in (before anything parses it), and short answers to requests that do not parse.

Each service declares ``BodyLimit`` rules for its routes (the first rule whose pattern matches
the whole path applies; ``DEFAULT_BODY_BYTES`` otherwise). A body over its limit is answered
``413 {"detail": …, "code": "body_too_large"}``: at once when ``Content-Length`` says so,
otherwise as soon as the bytes received pass the limit; the rest is never read. A request that
does not validate is answered ``422 {"detail": …, "code": "invalid_request"}`` naming at most
``MAX_PROBLEMS`` problems, each cut to a few dozen characters: an answer never echoes the input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_BODY_BYTES = 4096
MAX_PROBLEMS = 3
MAX_WHERE = 60
MAX_MESSAGE = 120


@dataclass(frozen=True)
class BodyLimit:
    """Requests to a path matching ``pattern`` (a regular expression for the whole path,
    optionally only for ``methods``) may carry at most ``max_bytes`` of body."""

    pattern: str
    max_bytes: int
    methods: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.max_bytes < 0:
            raise ValueError("a body limit is a non-negative number of bytes")

    def applies(self, method: str, path: str) -> bool:
        return ((not self.methods or method in self.methods)
                and re.fullmatch(self.pattern, path) is not None)


class _TooLarge(Exception):
    """The request body grew past its route's limit while streaming in."""


class BodyLimitMiddleware:
    """ASGI middleware: the body of an HTTP request is counted while it streams in; past its
    route's limit the request is answered 413 and the application's own answer is dropped."""

    def __init__(self, app: ASGIApp, limits: Sequence[BodyLimit] = (),
                 default: int = DEFAULT_BODY_BYTES) -> None:
        self.app = app
        self.limits = tuple(limits)
        self.default = default

    def limit_for(self, method: str, path: str) -> int:
        return next((rule.max_bytes for rule in self.limits if rule.applies(method, path)),
                    self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        if _declared_length(scope) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0
        exceeded = False
        started = False

        async def counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded:  # the application answered its own error to the broken read: drop it
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await _too_large(limit)(scope, receive, send)


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse({"detail": f"request body too large: at most {limit} bytes here",
                         "code": "body_too_large"}, status_code=413,
                        headers={"Connection": "close"})


def describe_invalid(errors: Iterable[Mapping[str, Any]]) -> str:
    """One short sentence: the first few fields that were wrong and why, never their values."""
    problems: list[str] = []
    count = 0
    for error in errors:
        count += 1
        if len(problems) < MAX_PROBLEMS:
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            problems.append(f"{_cut(where, MAX_WHERE) or 'body'}: "
                            f"{_cut(str(error.get('msg', 'invalid')), MAX_MESSAGE)}")
    more = f"; and {count - MAX_PROBLEMS} more" if count > MAX_PROBLEMS else ""
    return "invalid request: " + "; ".join(problems) + more


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def invalid_request(errors: Iterable[Mapping[str, Any]]) -> JSONResponse:
    return JSONResponse({"detail": describe_invalid(errors), "code": "invalid_request"},
                        status_code=422)


async def invalid_request_handler(_request: Request, exc: Exception) -> JSONResponse:
    """The app-wide answer to a request that does not validate (FastAPI's own lists every
    problem with its input)."""
    assert isinstance(exc, RequestValidationError)
    return invalid_request(exc.errors())


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """A body that is not JSON in UTF-8 is an invalid request too (FastAPI answers 400); a
    405 names every method of the path in ``Allow`` (not only the first route's)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        return invalid_request([{"loc": ("body",), "msg": "not JSON text in UTF-8"}])
    if exc.status_code == 405:
        methods = sorted({method for route in request.app.router.routes
                          if isinstance(route, Route | APIRoute) and route.methods
                          and route.path_regex.match(request.url.path)
                          for method in route.methods})
        exc = StarletteHTTPException(405, exc.detail, headers={"Allow": ", ".join(methods)})
    return await http_exception_handler(request, exc)


def _whole_number(value: Any) -> Any:
    """JSON's integers: 12 or 12.0, never true, "12" or 12.5 (what JSON Schema calls one)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_whole_number)]
"""An integer field of a request body: no strings or booleans taken for numbers."""


def json_int(**bounds: int) -> Any:
    """``JsonInt`` with its bounds (``ge``, ``gt``, ``le``) where an optional field shows them."""
    return Annotated[int, Field(**bounds), BeforeValidator(_whole_number)]


class Problem(BaseModel):
    """Every refusal of Lockstep's APIs (the device API and the admin API alike)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "examples": [{"detail": "invalid request: serial: String should match pattern "
                                "'^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'",
                      "code": "invalid_request"}]})

    detail: str = Field(description="what was wrong, in words a person can act on")
    code: str | None = Field(default=None, description="a stable code for programs (the "
                             "tables of refusal codes in README and docs/device-protocol.md)")
    reason: str | None = Field(default=None, description="admin API: what exactly was refused, "
                               "a stable code (e.g. devices_not_waiting) the console words in "
                               "the user's language with ``params``")
    params: dict[str, Any] | None = Field(default=None, description="admin API: the values the "
                                          "reason's sentence names (e.g. missing, enabled)")


MEANING = {
    400: "the request is not HTTP a route can read",
    401: "no valid credentials (log in or register again)",
    403: "not allowed for these credentials",
    404: "nothing of that name here",
    409: "not in the current state",
    410: "gone: expired or already used",
    413: "request body too large (body_too_large)",
    416: "range not satisfiable",
    422: "the request does not validate (invalid_request) or is refused as wrong",
    429: "too many attempts: wait Retry-After",
    502: "a service this one calls did not answer",
    503: "not available now: retry later",
}


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route or router: each status answered with a ``Problem``."""
    return {status: {"model": Problem, "description": MEANING[status]} for status in statuses}
