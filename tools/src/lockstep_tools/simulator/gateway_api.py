"""The device API of the gateway (``/device/v1``), as a device calls it.

Transient failures (connection errors, 5xx, 429) are retried with backoff a bounded number of
times; what the gateway answers with a 4xx is returned to the caller to decide.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import httpx

from lockstep_shared.contracts.device_registration import (
    IDEMPOTENCY_HEADER,
    PROOF_HEADER,
    secret_proof,
)
from lockstep_tools.simulator.device_state import Directive
from lockstep_tools.simulator.link import SharedLink

PREFIX = "/device/v1"
TRANSIENT_ATTEMPTS = 6
DOWNLOAD_PATIENCE_S = 300.0
"""A cut download is resumed (backoff 0.5 s doubling to 30 s, as the device protocol says) until
the waits add up to this: a gateway restart or a network outage does not fail the update."""
CHUNK = 64 * 1024


class GatewayUnavailable(Exception):
    """The gateway could not be reached (or kept failing) after the bounded retries."""


class RegistrationRefused(Exception):
    """The gateway refused the registration with a 4xx: wrong site, enrolment code or body."""


@dataclass(frozen=True, slots=True)
class Registration:
    device_token: str
    device_secret: str
    site_version: str | None


KEEPALIVE_EXPIRY_S = 4.0
"""How long an idle connection is kept for the next request: less than the gateway's own
keep-alive (uvicorn closes a connection idle for 5 s). Kept longer, a client reuses
connections the gateway has closed: each such request fails and the device backs off (0.5 s,
1 s, … 30 s) — measured with 1,000 devices: staging slots held ~90 s for a 64 KiB package, and
with 10,000 only ~1 % of the long-polls parked, 8,000 sockets left in CLOSE-WAIT. A long-poll's
connection is never idle that long: the device polls again at once."""


def build_clients(
    gateway_url: str, count: int, *, shard_size: int, wait_s: float,
    on_request: Callable[[httpx.Request], Awaitable[None]] | None = None,
) -> list[httpx.AsyncClient]:
    """HTTP clients for ``count`` devices, one client per ``shard_size`` devices.

    One client for thousands of devices is slow: httpcore's pool scans all its connections on
    every request (measured: 23 ms CPU per request with 5,000 long-polls open in one client,
    ~1.2 ms with clients of 25-32 devices). A device has at most its long-poll and one other
    request in flight (what it does, or a periodic update check), so a client never needs more
    than ``2 * shard_size`` connections and keeps them alive. The clients
    share one SSL context (httpx builds one per client otherwise: ~0.6 MB each).
    ``on_request`` is called before every request (the fleet counts them).
    """
    shards = max(1, -(-count // shard_size))
    context = ssl.create_default_context()
    timeout = httpx.Timeout(connect=15.0, read=wait_s + 20.0, write=15.0, pool=60.0)
    limits = httpx.Limits(
        max_connections=2 * shard_size + 8,
        max_keepalive_connections=2 * shard_size + 8,
        keepalive_expiry=KEEPALIVE_EXPIRY_S,
    )
    return [
        httpx.AsyncClient(base_url=gateway_url, timeout=timeout, limits=limits, verify=context,
                          event_hooks={"request": [on_request] if on_request else []})
        for _ in range(shards)
    ]


def error_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if isinstance(body, dict) and "detail" in body:
        return f"HTTP {response.status_code}: {body['detail']}"
    return f"HTTP {response.status_code}: {body}"


def error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


async def call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    *,
    token: str | None = None,
    json: Any = None,
    limit: AbstractAsyncContextManager[Any] | None = None,
    headers: dict[str, str] | None = None,
    retry_busy: bool = True,
) -> httpx.Response:
    """One request, retried while the failure is transient (with the same headers); 4xx
    answers are returned. ``retry_busy=False``: a 429 is returned too (the caller waits its
    ``Retry-After``)."""
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    last = "no attempt"
    for attempt in range(TRANSIENT_ATTEMPTS):
        if attempt:
            await asyncio.sleep(min(0.25 * 2**attempt, 8.0))
        try:
            async with limit or nullcontext():
                response = await client.request(method, path, headers=headers, json=json)
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}: {exc}"
            continue
        if response.status_code >= 500 or (response.status_code == 429 and retry_busy):
            last = error_detail(response)
            continue
        return response
    raise GatewayUnavailable(f"{method} {path} failed {TRANSIENT_ATTEMPTS} times: {last}")


async def register(
    client: httpx.AsyncClient, body: dict[str, Any], *, limit: AbstractAsyncContextManager[Any],
    secret: str | None = None,
) -> Registration:
    """One registration attempt (§4.1): its own ``Idempotency-Key``, sent again with every
    transient retry (a lost answer must not lock the device out), and ``Lockstep-Secret-Proof``
    when the device holds a secret from an earlier registration."""
    headers = {IDEMPOTENCY_HEADER: str(uuid.uuid4())}
    if secret is not None:
        headers[PROOF_HEADER] = secret_proof(secret, body["site_id"], body["serial"])
    response = await call(client, "POST", f"{PREFIX}/registrations", json=body, limit=limit,
                          headers=headers)
    if response.status_code != 201:
        raise RegistrationRefused(f"registration of {body['serial']}: {error_detail(response)}")
    data = response.json()
    return Registration(data["device_token"], data["device_secret"], data.get("site_version"))


def parse_directive(body: dict[str, Any]) -> Directive:
    return Directive(
        update_id=body.get("update_id"),
        version=str(body["version"]),
        size=int(body["size"]),
        sha256=str(body["sha256"]).lower(),
        url=str(body.get("url") or f"{PREFIX}/package"),
        staged=bool(body.get("staged", False)),
    )


def parse_staging(body: dict[str, Any]) -> Directive:
    """A staging slot's answer (``POST /staging``) as the package to download."""
    return Directive(update_id=None, version=str(body["version"]), size=int(body["size"]),
                     sha256=str(body["sha256"]).lower(),
                     url=str(body.get("url") or f"{PREFIX}/staging/package"))


class DownloadProblem(Exception):
    """The package could not be downloaded or did not verify; the message says which."""


class DirectiveStale(Exception):
    """The package URL answered 404 (nothing to download) or 409 (update in preparation)."""


async def download(
    client: httpx.AsyncClient, token: str, directive: Directive, *, interrupt_once: bool,
    link: SharedLink | None = None,
) -> int:
    """Download the package resumably and verify size and sha256 (S4), keeping nothing.

    The bytes are hashed as they arrive and dropped. After a cut (a transport error, or the
    ``interrupt_once`` misbehaviour halfway) it resumes with ``Range: bytes=N-`` and
    ``If-Range: <etag>``; a 200 instead of 206 (the package changed) restarts the hash.
    ``link``: the site's network the bytes share with the fleet's other downloads.
    Returns how many times it resumed.
    """
    received = 0
    digest = hashlib.sha256()
    etag: str | None = None
    cut_at = directive.size // 2 if interrupt_once and directive.size > 1 else None
    failures = resumes = 0
    waited = 0.0
    while True:
        headers = {"Authorization": f"Bearer {token}"}
        if received:
            resumes += 1
            headers["Range"] = f"bytes={received}-"
            if etag:
                headers["If-Range"] = etag
        try:
            async with client.stream("GET", directive.url, headers=headers) as response:
                if response.status_code == 200:
                    received, digest = 0, hashlib.sha256()
                elif response.status_code == 206:
                    pass
                else:
                    # A streamed response's body is not read yet: read the (small) error body
                    # before using it, else httpx raises ResponseNotRead.
                    await response.aread()
                    if response.status_code >= 500 or response.status_code == 429:
                        raise httpx.TransportError(error_detail(response))
                    if response.status_code in (404, 409):
                        raise DirectiveStale(error_detail(response))
                    raise DownloadProblem(error_detail(response))
                etag = response.headers.get("ETag", etag)
                async for chunk in response.aiter_raw(CHUNK):
                    if link is not None:
                        await link.carry(len(chunk))
                    digest.update(chunk)
                    received += len(chunk)
                    if cut_at is not None and received >= cut_at:
                        cut_at = None
                        break  # closes the connection mid-body: the device lost its network
                else:
                    break
        except httpx.TransportError as exc:
            failures += 1
            if waited >= DOWNLOAD_PATIENCE_S:
                raise DownloadProblem(
                    f"gave up after {failures} cuts in {waited:.0f}s: {exc}") from exc
            wait = min(0.5 * 2 ** (failures - 1), 30.0)
            waited += wait
            await asyncio.sleep(wait)
    if received != directive.size:
        raise DownloadProblem(f"size {received} bytes, the directive says {directive.size}")
    if digest.hexdigest() != directive.sha256:
        raise DownloadProblem(
            f"sha256 {digest.hexdigest()} differs from the directive's {directive.sha256}"
        )
    return resumes
