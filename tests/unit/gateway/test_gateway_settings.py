"""The gateway's settings read from the environment as README.md documents them."""

from __future__ import annotations

import pytest

from device_gateway.settings import GatewaySettings


@pytest.mark.parametrize("value, retired", [
    ("v1", {"v1"}), (" v1, v2 ", {"v1", "v2"}), ('["v1"]', {"v1"}), ("", set()),
])
def test_retired_protocols_comma_separated_or_json(
    monkeypatch: pytest.MonkeyPatch, value: str, retired: set[str]
) -> None:
    monkeypatch.setenv("LOCKSTEP_GATEWAY_RETIRED_PROTOCOLS", value)
    assert GatewaySettings().retired_protocols == retired


def test_no_protocol_is_retired_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCKSTEP_GATEWAY_RETIRED_PROTOCOLS", raising=False)
    assert GatewaySettings().retired_protocols == frozenset()
