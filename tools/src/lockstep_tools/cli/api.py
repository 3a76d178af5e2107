"""A synchronous client of the admin API (``/api/v1``): one method per HTTP verb, every
refusal raised as ``ApiError`` carrying the API's own ``detail``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

API_PREFIX = "/api/v1"
TIMEOUT_S = 30.0


class ApiError(Exception):
    """The API refused, or could not be reached. ``str()`` is what to print."""

    def __init__(self, message: str, status: int | None = None,
                 body: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = dict(body or {})


def detail_of(status: int, body: Any, text: str = "", *, logged_in: bool = True) -> str:
    """The API's ``detail`` as one readable line (FastAPI validation lists included)."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str) and detail:
        message = detail
    elif isinstance(detail, list) and detail:
        message = "; ".join(_validation_item(item) for item in detail)
    elif detail is not None and not isinstance(detail, (str, list)):
        message = str(detail)
    else:
        message = text.strip() or f"the server answered HTTP {status}"
    if status == 401 and logged_in and "lockstep login" not in message:
        message += " (log in again: lockstep login)"
    return message


def _validation_item(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    where = ".".join(str(part) for part in item.get("loc", ()) if part not in ("body", "query"))
    message = str(item.get("msg", "invalid"))
    return f"{where}: {message}" if where else message


class Api:
    def __init__(self, url: str, token: str | None = None, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self.logged_in = bool(token)
        self.http = httpx.Client(base_url=self.url + API_PREFIX, headers=headers,
                                 timeout=TIMEOUT_S, transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        return self._call("GET", path, params=clean)

    def get_text(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """A document that is not JSON (a CSV export), as text."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        return str(self._call("GET", path, params=clean, raw=True))

    def post(self, path: str, body: Any = None) -> Any:
        return self._call("POST", path, json=body if body is not None else {})

    def delete(self, path: str) -> Any:
        return self._call("DELETE", path)

    def _call(self, method: str, path: str, *, raw: bool = False, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach Lockstep at {self.url}: {exc or type(exc).__name__}"
                           ) from exc
        if raw and response.is_success:
            return response.text
        body = _json(response)
        if response.is_success:
            return body
        raise ApiError(detail_of(response.status_code, body, response.text,
                                 logged_in=self.logged_in),
                       response.status_code, body if isinstance(body, dict) else None)


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
