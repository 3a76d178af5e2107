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
                 site_id: str | None = None, admin_user: str = "admin",
                 own_admin: bool = True, client: type[AdminClient] = AdminClient,
                 staging: bool = True) -> None:
        """``site_id``: another site than the environment's (``make bench``'s many sites),
        run by ``admin_user``; ``own_admin``: ``create_site`` makes that account for the site
        (a site's accounts are made once it exists), else the caller makes it and calls
        ``sign_in``. ``client``: the API client class (the fault tests' patient admin)."""
        self.env = env
        self._site_id = site_id or env.site_id
        self.admin_user = admin_user
        self.own_admin = own_admin
        self.poll_s = 0.25
        """How often the admin looks at the update while waiting for it."""
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
        self.client = client
        self.vendor: AdminClient
        self.admin: AdminClient  # the site's admin, from create_site on

    async def __aenter__(self) -> Stage:
        self.vendor = await self.env.admin("vendor", client=self.client)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for fleet in self.fleets:
            await fleet.stop()
        if hasattr(self, "admin"):
            await self.admin.close()
        await self.vendor.close()

    @property
    def site_id(self) -> str:
        return self._site_id

    @property
    def elapsed_s(self) -> float:
        return round(time.monotonic() - self.started, 2)

    # --- set-up ---------------------------------------------------------------------------

    async def create_site(self, also: dict[str, str] | None = None) -> None:
        """The site, with the release's product at its from-version (and ``also``: more
        products installed, e.g. the platform)."""
        release = self.env.release
        products = {release.product: release.from_version, **(also or {})}
        await self.vendor.create_site(
            site_id=self.site_id, name=f"Demo shop {self.site_id}",
            license_key=self.env.license_key, enrolment_code=self.enrolment_code,
            products=[{"product": p, "version": v} for p, v in products.items()],
        )
        installed = ", ".join(f"{p} {v}" for p, v in products.items())
        self.say(f"site {self.site_id} created with {installed}")
        if self.own_admin:  # a site's accounts are made once it exists
            self.env.create_user(self.admin_user, "admin", [self.site_id])
            await self.sign_in()

    async def sign_in(self) -> None:
        """The site's admin logs in (its account exists)."""
        self.admin = await self.env.admin(self.admin_user, client=self.client)

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
            await self.register(fleet)
            await fleet.run()
            fleets.append(fleet)
        self.fleets.extend(fleets)
        self.say(f"{count} simulated devices registered")
        return fleets

    async def register(self, fleet: Fleet) -> None:
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
            lambda b: b["state"] == state, timeout=self.timeout, interval=self.poll_s)
        self.say(f"banner {banner['state']}: {banner['message']}")
        return banner

    async def grid_has(self, count: int) -> None:
        await self.admin.wait_for(
            f"{count} devices in the grid", lambda: self.admin.devices(self.site_id),
            lambda g: len(g["devices"]) >= count, timeout=self.timeout, interval=self.poll_s)

    async def update_until(self, update_id: str, what: str,
                           done: Callable[[Any], bool], extra_s: float = 0) -> Any:
        return await self.admin.wait_for(what, lambda: self.admin.update(update_id), done,
                                         timeout=self.timeout + extra_s, interval=self.poll_s)

    # --- the procedure --------------------------------------------------------------------

    async def open_update(self, product: str | None = None) -> dict[str, Any]:
        update = await self.admin.open_update(self.site_id, product or self.env.release.product)
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
        self.say(f"phase 2 done: the host now runs {update['product']} "
                 f"{self.env.installed_on_host(update['product'])}")
        return update

    async def phase_three(self, update_id: str, on_target: int, *, installs: bool = True
                          ) -> Any:
        """END UPDATE; ``installs`` False: the update gives the devices nothing to install
        (R8: the platform's), they resume work at once."""
        await self.admin.send_end(update_id)
        self.say("END UPDATE sent: devices download and install" if installs else
                 "END UPDATE sent: nothing to install on the devices, they resume work")
        update = await self.update_until(update_id, f"{on_target} devices on the target version",
                                         lambda u: u["fleet"]["on_target"] >= on_target,
                                         extra_s=60)
        self.say(f"phase 3: {update['fleet']['on_target']} devices on the version the update "
                 "gives them")
        return update

    async def stop_time_s(self, update_id: str) -> float:
        """The update's stop time as the orchestrator measured it (issue 14 §2): first device
        blocked → last enabled device back at work (on the new version; after a failure, on
        the old one once ERROR UPDATE reached it)."""
        update = await self.update_until(update_id, "the stop time measured",
                                         lambda u: bool((u.get("stop_time") or {}).get("complete")))
        return float(update["stop_time"]["seconds"])

    def on_version(self, version: str) -> int:
        return sum(fleet.snapshot().on_version(version) for fleet in self.fleets)
