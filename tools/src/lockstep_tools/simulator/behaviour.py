"""How a simulated device misbehaves, and which devices of a fleet do (chosen by index).

Behaviours are assigned in consecutive blocks counted from the END of the fleet, in the order
offline, slow, never_ack, fail_install, interrupt_download, notifications_disabled — so
device 0 is always a well-behaved device and the same command line always picks the same
serials.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Behaviour:
    offline: bool = False
    """Registered once, but never connects again: no long-poll, no acknowledgement."""
    slow_s: float = 0.0
    """Seconds the device waits after receiving notifications before acting on them."""
    never_ack: bool = False
    """Receives notifications but never acknowledges nor acts on them."""
    fail_install: bool = False
    """Downloads and verifies the package, then the install fails: stays on the old version
    and reports nothing."""
    interrupt_download: bool = False
    """The first download is cut halfway; the device resumes with Range + If-Range."""
    notifications_disabled: bool = False
    """The app's notifications are off: registers with ``notifications_enabled: false`` and
    never opens the push channel (START/END/ERROR never reach it). It still works: checks for
    an update at start and periodically, and does what its operator asks (hand in data,
    restart the app, manual block by codes)."""

    @property
    def expected_to_finish(self) -> bool:
        """Whether this device can ever end an update on its own (CLI exit condition)."""
        return not (self.offline or self.never_ack)

    def describe(self) -> str:
        """'normal', or the traits: 'offline,slow(2s)' (computed once per behaviour: a fleet's
        snapshot describes every device, ten thousand of them in ``make bench``)."""
        return _describe(self)


@functools.cache
def _describe(behaviour: Behaviour) -> str:
    traits = [
        name
        for name, on in (
            ("offline", behaviour.offline),
            (f"slow({behaviour.slow_s:g}s)", behaviour.slow_s > 0),
            ("never_ack", behaviour.never_ack),
            ("fail_install", behaviour.fail_install),
            ("interrupt_download", behaviour.interrupt_download),
            ("notifications_disabled", behaviour.notifications_disabled),
        )
        if on
    ]
    return ",".join(traits) or "normal"


WELL_BEHAVED = Behaviour()


def serial_for(prefix: str, index: int) -> str:
    """The serial of the device at ``index``: ``SIM000042``."""
    return f"{prefix}{index:06d}"


def assign_behaviours(
    serials: list[str],
    *,
    offline: int = 0,
    slow: int = 0,
    never_ack: int = 0,
    fail_install: int = 0,
    interrupt_download: int = 0,
    notifications_disabled: int = 0,
    slow_delay_s: float = 5.0,
) -> dict[str, Behaviour]:
    """Misbehaving devices by serial; devices not in the result behave well.

    Blocks do not overlap; asking for more misbehaving devices than the fleet has is an error.
    """
    wanted = {
        "offline": offline,
        "slow": slow,
        "never_ack": never_ack,
        "fail_install": fail_install,
        "interrupt_download": interrupt_download,
        "notifications_disabled": notifications_disabled,
    }
    for name, k in wanted.items():
        if k < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {k}")
    total = sum(wanted.values())
    if total > len(serials):
        raise ValueError(
            f"{total} misbehaving devices requested but the fleet has only {len(serials)}: "
            "lower the counts or raise --devices"
        )
    result: dict[str, Behaviour] = {}
    position = len(serials)
    for name, k in wanted.items():
        for serial in serials[position - k : position]:
            result[serial] = _single(name, slow_delay_s)
        position -= k
    return result


def _single(name: str, slow_delay_s: float) -> Behaviour:
    if name == "offline":
        return Behaviour(offline=True)
    if name == "slow":
        return Behaviour(slow_s=slow_delay_s)
    if name == "never_ack":
        return Behaviour(never_ack=True)
    if name == "fail_install":
        return Behaviour(fail_install=True)
    if name == "interrupt_download":
        return Behaviour(interrupt_download=True)
    return Behaviour(notifications_disabled=True)
