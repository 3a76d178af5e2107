"""How a service runs: as its own process (distributed) or beside the others (single-node).

A service is a small object with optional HTTP routes and start/stop; ``http_app`` puts one or
several of them behind one FastAPI app with ``/healthz`` and ``/readyz``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response

from lockstep_shared import metrics
from lockstep_shared.bus.port import Bus

log = logging.getLogger(__name__)


class Service(Protocol):
    name: str

    def routers(self) -> Sequence[APIRouter]: ...

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
        for router in service.routers():
            app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks = {"bus": await _safe(bus.ready())}
        for service in services:
            checks[service.name] = await _safe(service.ready())
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

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


def serve(app: FastAPI, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, access_log=False, log_config=None,
                lifespan="on", timeout_graceful_shutdown=5)
