"""The gateway's internal API (``/internal/v1``), for the orchestrator only: the three-code
exchange (D8, U5), since the gateway alone holds the device secrets, and the admin's approval of
a re-registration without the secret (issue 10 §3). Every request carries the
shared secret in ``X-Lockstep-Internal``; with no secret configured the API answers 503."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from device_gateway.domain import registrations
from device_gateway.entrypoints.errors import DeviceRoute
from device_gateway.service_layer.codes import CodeHandlers
from device_gateway.service_layer.devices import DeviceHandlers
from device_gateway.service_layer.errors import DeviceRefused
from lockstep_shared.catalogue import Serial, SiteId
from lockstep_shared.settings import INTERNAL_HEADER

HEADER = INTERNAL_HEADER
NOT_CONFIGURED = ("internal API not configured: set LOCKSTEP_INTERNAL_TOKEN (or "
                  "LOCKSTEP_GATEWAY_INTERNAL_TOKEN and the same "
                  "LOCKSTEP_ORCHESTRATOR_INTERNAL_TOKEN)")


ExchangeId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class CodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["block", "unblock"]
    code1: str = Field(min_length=1, max_length=20, description="6 digits the device shows")


class CodeIssued(BaseModel):
    exchange_id: str
    code2: str
    expires_at: datetime


class Code3(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code3: str = Field(min_length=1, max_length=20)


class CodeVerified(BaseModel):
    verified: bool
    blocked: bool


class ReregistrationApproved(BaseModel):
    approved: bool
    valid_for_s: int


def require_internal_token(configured: str, presented: str | None) -> None:
    """Refused when the internal API is off, without the header, or with a wrong one."""
    if not configured:
        raise DeviceRefused("internal_api_disabled", NOT_CONFIGURED)
    if not presented:
        raise DeviceRefused("internal_token_missing", f"missing {HEADER} header")
    if not hmac.compare_digest(presented.encode(), configured.encode()):
        raise DeviceRefused("internal_token_wrong", f"wrong {HEADER} token")


def internal_router(exchanges: CodeHandlers, requests: DeviceHandlers, *,
                    internal_token: str) -> APIRouter:
    """``internal_token``: the shared secret; empty = the internal API is off."""

    async def internal_caller(request: Request) -> None:
        require_internal_token(internal_token, request.headers.get(HEADER))

    router = APIRouter(prefix="/internal/v1", tags=["internal"], route_class=DeviceRoute,
                       dependencies=[Depends(internal_caller)])

    @router.post("/sites/{site_id}/devices/{serial}/codes", status_code=201,
                 response_model=CodeIssued)
    async def issue(site_id: SiteId, serial: Serial, body: CodeRequest) -> CodeIssued:
        """Code 1 from the device → code 2 for the admin to read to the operator."""
        issued = await exchanges.issue(site_id, serial, body.action, body.code1)
        return CodeIssued(exchange_id=issued.exchange_id, code2=issued.code2,
                          expires_at=issued.expires_at)

    @router.post("/sites/{site_id}/devices/{serial}/codes/{exchange_id}/confirmation",
                 response_model=CodeVerified,
                 responses={410: {"description": "expired or already used"},
                            422: {"description": "wrong code 3 (attempts_left)"},
                            429: {"description": "no attempts left"}})
    async def confirm(site_id: SiteId, serial: Serial, exchange_id: ExchangeId,
                      body: Code3) -> CodeVerified:
        """Code 3 from the device: verified → the device's new state is recorded."""
        confirmed = await exchanges.confirm(site_id, serial, exchange_id, body.code3)
        return CodeVerified(verified=True, blocked=confirmed.blocked)

    @router.post("/sites/{site_id}/devices/{serial}/reregistration-approval",
                 response_model=ReregistrationApproved,
                 responses={404: {"description": "no such device"}})
    async def approve_reregistration(site_id: SiteId, serial: Serial
                                     ) -> ReregistrationApproved:
        """The site admin approved one re-registration of the serial without its secret."""
        await requests.approve_reregistration(site_id, serial)
        return ReregistrationApproved(
            approved=True, valid_for_s=int(registrations.APPROVAL_TTL.total_seconds()))

    return router
