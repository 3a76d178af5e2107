"""The gateway's code API as the orchestrator sees it (U5, D8): its answer, relayed to the
admin as it is, and the two refusals when the gateway cannot be asked. The HTTP client in
``adapters.http_clients`` returns and raises these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.domain.errors import Refused


class GatewayNotConfigured(Refused):
    """No gateway URL or internal token configured."""

    code = "gateway_not_configured"


class GatewayUnavailable(Refused):
    """The gateway could not be reached."""

    code = "gateway_unavailable"


@dataclass(frozen=True, slots=True)
class GatewayAnswer:
    """The gateway's own answer, relayed as it is to the admin (its status and body)."""

    status_code: int
    body: dict[str, Any]

    @property
    def accepted(self) -> bool:
        return 200 <= self.status_code < 300
