"""Refusals of the device API: an HTTP status, what was wrong, and a machine-readable code."""

from __future__ import annotations


class DeviceRefused(Exception):
    def __init__(self, status: int, detail: str, code: str | None = None,
                 headers: dict[str, str] | None = None,
                 extra: dict[str, object] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.headers = headers
        self.extra = extra or {}

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {"detail": self.detail}
        if self.code:
            body["code"] = self.code
        return {**body, **self.extra}


def unauthorized(detail: str = "unknown or invalid device token: register again") -> DeviceRefused:
    return DeviceRefused(401, detail, headers={"WWW-Authenticate": "Bearer"})


def disabled() -> DeviceRefused:
    return DeviceRefused(403, DISABLED, code="device_disabled")


DISABLED = "this device is disabled at its site; ask the site admin to enable it"
