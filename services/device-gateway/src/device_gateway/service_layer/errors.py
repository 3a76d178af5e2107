"""Refusals of the device API and the internal API: a stable ``code``, what was wrong and what
to do next (``detail``), and how long to wait before asking again (``retry_after``).

No HTTP here: ``entrypoints/errors.py`` holds the one table from code to status.
"""

from __future__ import annotations

from collections.abc import Mapping


class DeviceRefused(Exception):
    def __init__(self, code: str, detail: str, *, retry_after: int | None = None,
                 extra: Mapping[str, object] | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.retry_after = retry_after
        self.extra: Mapping[str, object] = extra or {}


INVALID_TOKEN = "unknown or invalid device token: register again"
DISABLED = "this device is disabled at its site; ask the site admin to enable it"


def unauthorized(detail: str = INVALID_TOKEN) -> DeviceRefused:
    return DeviceRefused("invalid_token", detail)


def disabled() -> DeviceRefused:
    return DeviceRefused("device_disabled", DISABLED)
