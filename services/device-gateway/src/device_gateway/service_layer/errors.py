"""Refusals of the device API and the internal API: a stable ``code``, what was wrong and what
to do next (``detail``), and how long to wait before asking again (``retry_after``).

No HTTP here: ``entrypoints/errors.py`` holds the one table from code to status.
"""

from __future__ import annotations

from collections.abc import Mapping

from device_gateway.domain.updates import IN_PREPARATION


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
NOTHING_TO_DOWNLOAD = ("no package is meant for this device now: ask for the update directive "
                       "again (GET /device/v1/update)")


def unauthorized(detail: str = INVALID_TOKEN) -> DeviceRefused:
    return DeviceRefused("invalid_token", detail)


def disabled() -> DeviceRefused:
    return DeviceRefused("device_disabled", DISABLED)


def in_preparation() -> DeviceRefused:
    return DeviceRefused("update_in_preparation", IN_PREPARATION)


def nothing_to_download() -> DeviceRefused:
    return DeviceRefused("nothing_to_download", NOTHING_TO_DOWNLOAD)


def protocol_retired(version: str) -> DeviceRefused:
    return DeviceRefused("protocol_retired", f"this server no longer speaks the device protocol "
                         f"{version} this app uses: update the app from the vendor's store")
