"""What every scenario does on its way: a site, a fleet, the admin's steps, waiting for them.

A ``Stage`` holds the demo environment, the logged-in API clients (vendor support and the site
admin) and the simulated fleets, and prints progress through ``say``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from lockstep_tools.demo.admin import AdminClient
from lockstep_tools.demo.environment import DemoEnvironment
from lockstep_tools.simulator.behaviour import Behaviour, serial_for
from lockstep_tools.simulator.fleet import Fleet
from lockstep_tools.simulator.gateway_api import RegistrationRefused

Say = Callable[[str], None]


class Stage:
    def __init__(self, env: DemoEnvironment, devices: int, say: Say, *,
                 staging: bool = True) -> None:
        self.env = env
        self.devices = devices
        self.say = say
        self.staging = staging
        """The devices stage the next release in the background (``--no-staging``: not)."""
        self.link_bytes_per_s: float | None = None
        """The site's network all downloads share (a scenario may set one)."""
        self.started = time.monotonic()
        self.timeout = 60 + devices * 0.1
        self.enrolment_code = f"enrol-{env.run_id}"
        self.fleets: list[Fleet] = []
        self.vendor: AdminClient
        self.admin: AdminClient

    async def __aenter__(self) -> Stage:
        self.vendor = await self.env.admin("vendor")
        self.admin = await self.env.admin("admin")
        return self

    async def __aexit__(self, *exc: object) -> None:
        for fleet in self.fleets:
            await fleet.stop()
        await self.admin.close()
        await self.vendor.close()

    @property
    def site_id(self) -> str:
        return self.env.site_id

    @property
    def elapsed_s(self) -> float:
        return round(time.monotonic() - self.started, 2)

    # --- set-up ---------------------------------------------------------------------------

    async def create_site(self) -> None:
        release = self.env.release
        await self.vendor.create_site(
            site_id=self.site_id, name=f"Demo shop {self.site_id}",
            license_key=self.env.license_key, enrolment_code=self.enrolment_code,
            products=[{"product": release.product, "version": release.from_version}],
        )
        self.say(f"site {self.site_id} created with {release.product} {release.from_version}")

    async def start_fleet(
        self,
        count: int,
        *,
        behaviours: Callable[[list[str]], dict[str, Behaviour]] | None = None,
        app_version: str | None = None,
        prefix: str = "SIM",
        spread: bool = False,
    ) -> list[Fleet]:
        """Register ``count`` devices and start them; ``spread`` shares them out over every
        gateway replica. ``behaviours`` picks misbehaving devices from the serials."""
        gateways = self.env.gateway_urls if spread else self.env.gateway_urls[:1]
        fleets = []
        for i, gateway in enumerate(gateways):
            share = count // len(gateways) + (1 if i < count % len(gateways) else 0)
            serials = [serial_for(f"{prefix}{i}", n) for n in range(share)]
            fleet = Fleet(gateway, self.site_id, self.enrolment_code, share,
                          app_version or self.env.release.from_version,
                          serial_prefix=f"{prefix}{i}",
                          behaviours=behaviours(serials) if behaviours else None,
                          staging=self.staging, link_bytes_per_s=self.link_bytes_per_s)
            await self._register(fleet)
            await fleet.run()
            fleets.append(fleet)
        self.fleets.extend(fleets)
        self.say(f"{count} simulated devices registered")
        return fleets

    async def _register(self, fleet: Fleet) -> None:
        """The gateway learns of a new site from the bus a moment after the orchestrator
        created it; a device that is refused meanwhile tries again, as a real one would."""
        deadline = time.monotonic() + 20
        while True:
            try:
                await fleet.register()
                return
            except RegistrationRefused:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.25)

    # --- watching -------------------------------------------------------------------------

    async def banner(self, state: str) -> Any:
        banner = await self.admin.wait_for(
            f"banner {state}", lambda: self.admin.banner(self.site_id),
            lambda b: b["state"] == state, timeout=self.timeout)
        self.say(f"banner {banner['state']}: {banner['message']}")
        return banner

    async def grid_has(self, count: int) -> None:
        await self.admin.wait_for(
            f"{count} devices in the grid", lambda: self.admin.devices(self.site_id),
            lambda g: len(g["devices"]) >= count, timeout=self.timeout)

    async def update_until(self, update_id: str, what: str,
                           done: Callable[[Any], bool], extra_s: float = 0) -> Any:
        return await self.admin.wait_for(what, lambda: self.admin.update(update_id), done,
                                         timeout=self.timeout + extra_s)

    # --- the procedure --------------------------------------------------------------------

    async def open_update(self) -> dict[str, Any]:
        update = await self.admin.open_update(self.site_id, self.env.release.product)
        self.say(f"update {update['update_id']} opened ({update['state']}): "
                 f"{update['from_version']} → {update['to_version']}")
        return dict(update)

    async def phase_one(self, update_id: str, waiting: int) -> Any:
        await self.admin.send_start(update_id)
        self.say("START UPDATE sent to every device")
        update = await self.update_until(update_id, f"{waiting} devices waiting for update",
                                         lambda u: u["fleet"]["waiting"] >= waiting)
        self.say(f"phase 1: {update['fleet']['waiting']}/{update['fleet']['enabled']} devices "
                 "blocked and waiting for update")
        return update

    async def server_updated(self, update_id: str) -> Any:
        update = await self.update_until(update_id, "server updated (phase 3)",
                                         lambda u: u["state"] in ("server_updated", "failed"),
                                         extra_s=60)
        if update["state"] == "failed":
            raise RuntimeError(f"the server update failed: {update.get('failure')}")
        self.say(f"phase 2 done: the host now runs {self.env.installed_on_host()}")
        return update

    async def phase_three(self, update_id: str, on_target: int) -> Any:
        await self.admin.send_end(update_id)
        self.say("END UPDATE sent: devices download and install")
        update = await self.update_until(update_id, f"{on_target} devices on the target version",
                                         lambda u: u["fleet"]["on_target"] >= on_target,
                                         extra_s=60)
        self.say(f"phase 3: {update['fleet']['on_target']} devices on {update['to_version']}")
        return update

    async def stop_time_s(self, update_id: str) -> float | None:
        """The update's stop time as the orchestrator measured it (issue 14 §2): first device
        blocked → last enabled device back at work on the new version."""
        update = await self.update_until(update_id, "the stop time measured",
                                         lambda u: (u.get("stop_time") or {}).get("complete"))
        return float(update["stop_time"]["seconds"])

    def on_version(self, version: str) -> int:
        return sum(fleet.snapshot().on_version(version) for fleet in self.fleets)
