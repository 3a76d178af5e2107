"""How a service runs: as its own process (distributed) or beside the others (single-node).

A service is a small object with optional HTTP routes and start/stop; ``http_app`` puts one or
several of them behind one FastAPI app with ``/healthz`` and ``/readyz``, every request body
bounded by its route's ``BodyLimit`` (``http_limits``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from lockstep_shared import metrics
from lockstep_shared.bus.port import Bus
from lockstep_shared.http_limits import (
    BodyLimitMiddleware,
    http_error_handler,
    invalid_request_handler,
)
from lockstep_shared.settings import LockstepSettings

log = logging.getLogger(__name__)
T = TypeVar("T")


class Service(Protocol):
    name: str

    routers: Sequence[APIRouter]

    async def migrate(self) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ready(self) -> bool: ...


def http_app(
    services: Sequence[Service],
    bus: Bus,
    *,
    title: str,
    on_started: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await bus.start()
        for service in services:
            await service.migrate()
        for service in services:
            await service.start()
        if on_started is not None:
            await on_started()
        try:
            yield
        finally:
            for service in reversed(services):
                await service.stop()
            await bus.close()

    app = FastAPI(title=title, lifespan=lifespan)
    for service in services:
        for router in service.routers:
            app.include_router(router)
    app.add_middleware(BodyLimitMiddleware, limits=[
        rule for service in services for rule in getattr(service, "body_limits", ())])
    app.add_exception_handler(RequestValidationError, invalid_request_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks = {"bus": await _safe(bus.ready())}
        problems: list[str] = []
        for service in services:
            checks[service.name] = await _safe(service.ready())
            problems += [f"{service.name}: {p}" for p in getattr(service, "problems", list)()]
        ok = all(checks.values())
        body: dict[str, object] = {"ready": ok, "checks": checks}
        if problems:
            body["problems"] = problems
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        body, content_type = await metrics.render()
        return Response(body, media_type=content_type)

    return app


async def _safe(check: Awaitable[bool]) -> bool:
    try:
        return bool(await asyncio.wait_for(check, 5))
    except Exception:
        return False


def server_config(app: FastAPI, host: str, port: int, *, forwarded_allow_ips: str = "",
                  **options: Any) -> Any:
    """uvicorn's configuration of a service. ``forwarded_allow_ips``: the addresses of trusted
    reverse proxies (``LOCKSTEP_FORWARDED_ALLOW_IPS``, comma-separated, ``*`` = any): only a
    request from one of them has its client address and scheme taken from ``X-Forwarded-For``
    and ``X-Forwarded-Proto``. Empty (the default) trusts no proxy: the client is the TCP peer,
    whatever headers it sends (uvicorn's own default trusts them from 127.0.0.1)."""
    import uvicorn

    trusted = forwarded_allow_ips.strip()
    return uvicorn.Config(app, host=host, port=port, access_log=False, log_config=None,
                          lifespan="on", timeout_graceful_shutdown=5,
                          proxy_headers=bool(trusted), forwarded_allow_ips=trusted or "",
                          **options)


def serve(app: FastAPI, host: str, port: int, *, forwarded_allow_ips: str = "") -> None:
    import uvicorn

    uvicorn.Server(server_config(app, host, port,
                                 forwarded_allow_ips=forwarded_allow_ips)).run()


def settings_or_exit(prog: str, make: Callable[[], T]) -> T:
    """Build settings from the environment; a bad or missing value ends the program with a
    message naming the variable, not a traceback."""
    try:
        return make()
    except ValidationError as exc:
        prefix = getattr(getattr(make, "model_config", {}), "get", lambda *_: "")("env_prefix")
        problems = "; ".join(
            (f"{(prefix or '').upper()}{'_'.join(str(p) for p in e['loc']).upper()}: "
             if e["loc"] else "") + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
        raise SystemExit(f"{prog}: invalid settings: {problems}") from None


def service_main(
    prog: str,
    description: str,
    build: Callable[[LockstepSettings, Any, Bus], Service],
    make_settings: Callable[[], Any],
    argv: Sequence[str] | None = None,
) -> None:
    """The command line of a service run as its own process: ``serve`` (default) or
    ``migrate``."""
    import argparse

    from lockstep_shared.bus import connect
    from lockstep_shared.logs import configure_logging

    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args(argv)
    common = settings_or_exit(prog, LockstepSettings)
    settings = settings_or_exit(prog, make_settings)
    service_name = prog.removeprefix("lockstep-")
    configure_logging(service_name, common.log_level, common.log_json)
    bus = connect(common, service_name)  # type: ignore[arg-type]  # prog names a Service
    service = build(common, settings, bus)
    if args.command == "migrate":
        asyncio.run(service.migrate())
        return
    serve(http_app([service], bus, title=description), settings.host, settings.port,
          forwarded_allow_ips=common.forwarded_allow_ips)
