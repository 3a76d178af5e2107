"""HTTP clients of the orchestrator: the device gateway's internal code API (U5, D8) and the
vendor's support endpoint (U12)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from orchestrator.domain.gateway_codes import (
    GatewayAnswer,
    GatewayNotConfigured,
    GatewayUnavailable,
)
from orchestrator.domain.support import DeliveryFailed


class GatewayCodes:
    """Proxy of the three-code exchange and of the approval of a re-registration: the gateway
    owns the device secrets."""

    def __init__(self, base_url: str | None, token: str, timeout_s: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = (base_url or "").rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self.transport = transport

    async def _post(self, path: str, body: dict[str, Any]) -> GatewayAnswer:
        return await self._call("POST", path, body)

    async def _call(self, method: str, path: str, body: dict[str, Any] | None
                    ) -> GatewayAnswer:
        if not self.base_url or not self.token:
            raise GatewayNotConfigured(
                "internal API not configured: set LOCKSTEP_ORCHESTRATOR_GATEWAY_URL and "
                "LOCKSTEP_ORCHESTRATOR_INTERNAL_TOKEN (same value as the gateway's "
                "LOCKSTEP_GATEWAY_INTERNAL_TOKEN)")
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout_s,
                                         transport=self.transport) as client:
                answer = await client.request(method, path, json=body,
                                              headers={"X-Lockstep-Internal": self.token})
        except httpx.HTTPError as exc:
            raise GatewayUnavailable(f"device gateway unreachable at {self.base_url}: "
                                     f"{exc.__class__.__name__}: {exc}") from exc
        try:
            payload = answer.json()
        except ValueError:
            payload = {"detail": answer.text[:500]}
        if not isinstance(payload, dict):
            payload = {"detail": payload}
        return GatewayAnswer(answer.status_code, payload)

    async def issue(self, site_id: str, serial: str, action: str, code1: str) -> GatewayAnswer:
        return await self._post(_path("internal", "v1", "sites", site_id, "devices", serial,
                                      "codes"), {"action": action, "code1": code1})

    async def confirm(self, site_id: str, serial: str, exchange_id: str,
                      code3: str) -> GatewayAnswer:
        return await self._post(_path("internal", "v1", "sites", site_id, "devices", serial,
                                      "codes", exchange_id, "confirmation"), {"code3": code3})

    async def approve_reregistration(self, site_id: str, serial: str) -> GatewayAnswer:
        return await self._post(_path("internal", "v1", "sites", site_id, "devices", serial,
                                      "reregistration-approval"), {})

    # --- hawkBit DDI devices (D14) -------------------------------------------------------

    async def ddi_block(self, site_id: str, serial: str) -> GatewayAnswer:
        return await self._post(_path("internal", "v1", "sites", site_id, "devices", serial,
                                      "ddi-block"), {})

    async def ddi_model_rules(self, site_id: str) -> GatewayAnswer:
        return await self._call("GET", _path("internal", "v1", "sites", site_id, "ddi-models"),
                                None)

    async def ddi_join_requests(self, site_id: str) -> GatewayAnswer:
        return await self._call("GET", _path("internal", "v1", "sites", site_id,
                                             "ddi-join-requests"), None)

    async def ddi_join_approval(self, site_id: str, serial: str, device: dict[str, Any]
                                ) -> GatewayAnswer:
        return await self._post(_path("internal", "v1", "sites", site_id, "ddi-join-requests",
                                      serial, "approval"), device)

    async def ddi_join_dismissal(self, site_id: str, serial: str) -> GatewayAnswer:
        return await self._call("DELETE", _path("internal", "v1", "sites", site_id,
                                                "ddi-join-requests", serial), None)

    async def ddi_model_rule(self, site_id: str, model: str, rule: dict[str, Any]
                             ) -> GatewayAnswer:
        return await self._call("PUT", _path("internal", "v1", "sites", site_id, "ddi-models",
                                             model), rule)

    async def ddi_target_token(self, site_id: str, serial: str, device: dict[str, Any]
                               ) -> GatewayAnswer:
        return await self._post(_path("internal", "v1", "sites", site_id, "devices", serial,
                                      "ddi-target-token"), device)

    async def ddi_gateway_token(self, site_id: str) -> GatewayAnswer:
        return await self._post(_path("internal", "v1", "sites", site_id, "ddi-gateway-token"),
                                {})


def _path(*segments: str) -> str:
    """A URL path from segments, each percent-encoded whole: a ``/``, ``?``, ``#`` or control
    character in a value stays inside its segment."""
    return "".join("/" + quote(segment, safe="") for segment in segments)


class SupportEndpoint:
    """POSTs a report as JSON; accepted = HTTP 2xx. Raises ``DeliveryFailed`` otherwise."""

    def __init__(self, url: str | None, timeout_s: float = 15.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.transport = transport

    async def deliver(self, report: dict[str, Any]) -> None:
        if not self.url:
            raise DeliveryFailed("support endpoint not configured "
                                 "(LOCKSTEP_ORCHESTRATOR_SUPPORT_URL); kept and retried")
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s,
                                         transport=self.transport) as client:
                answer = await client.post(self.url, json=report)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{exc.__class__.__name__}: {exc}") from exc
        if not 200 <= answer.status_code < 300:
            raise DeliveryFailed(f"support endpoint answered HTTP {answer.status_code}: "
                                 f"{answer.text[:200]}")


