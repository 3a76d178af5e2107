"""The barrier of a coordinated update, as a stateful property (issue 9 §1).

A site's update is played through the gateway's and the orchestrator's pure decision functions
(``device_gateway.domain.updates``, ``orchestrator.domain.saga`` and ``.barrier``), joined by
a model of the bus: what the orchestrator tells the gateway arrives in order, what the gateway
tells the orchestrator arrives in any order (several consumers, redeliveries). Devices behave
at random, correct or not: they skip the acknowledgement, skip ``/blocked``, hand in before
blocking or twice, name the update or not, keep working after START, reconnect, register in
the middle of phase 1, get disabled, are blocked and unblocked with the offline codes. Admins
send START, start the server update, force it (two admins), send END, conclude, open the next
update.

Each device also carries the truth the servers cannot see — is it still working, how many
records has it made since its last accepted hand-in — and the invariants are stated on it:

- the server update never starts unforced while an enabled device of the grid is working or
  has data not handed in after it stopped;
- once the gateway knows the server update started, it accepts no hand-in from a device on
  the old version that was not waiting when it started (or resumed work since);
- when the update is over, every device ends on the site's version.

The grid is what the orchestrator learnt: a device whose registration has not reached it yet
is not in the fleet the Start rule counts (that is the asynchrony of the bus, not the barrier).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from device_gateway.domain.updates import (
    Block,
    Package,
    Phase,
    SiteUpdate,
    advance,
    block,
    blocking_refusal,
    decide_directive,
    decide_sync,
)
from lockstep_shared.catalogue import (
    DeviceBlocked,
    DeviceDataHandedIn,
    DeviceDisabled,
    DeviceEnabled,
    DeviceNotificationRequested,
    DeviceRegistered,
    DevicesReleased,
    DeviceUnblocked,
    DeviceVersionReported,
    InstallSucceeded,
    Message,
    PackageRef,
    ServerUpdateStarted,
    UpdateConcluded,
    UpdateOpened,
)
from orchestrator.domain.barrier import DeviceBarrier, on_blocked, on_handed_in, on_unblocked
from orchestrator.domain.commands import (
    ApproveForce,
    Command,
    Conclude,
    OpenUpdate,
    RequestForce,
    SendEnd,
    SendStart,
    StartServerUpdate,
)
from orchestrator.domain.decisions import Decision, ResetDeviceFlags
from orchestrator.domain.errors import Refused
from orchestrator.domain.model import FleetSummary, Update, UpdateState
from orchestrator.domain.releases import Release, ReleaseStatus
from orchestrator.domain.saga import PHASE_1, decide, open_update

SITE = "shop-1"
VERSIONS = ("03.01.00_030", "03.01.00_031", "03.01.00_032")
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
FIRST = ("IMEI1", "IMEI2")
LATE = ("IMEI3",)  # may register in the middle of an update
ADMINS = ("anna", "bruno")
# each rule draws a device among all the serials; one not registered yet does nothing
serials = st.sampled_from(FIRST + LATE)


def package_ref(version: str) -> PackageRef:
    digest = version[-1] * 64
    return PackageRef(product="shop", version=version, sha256=digest, size=100,
                      url=f"http://watcher/{digest}")


def package(version: str) -> Package:
    ref = package_ref(version)
    return Package(ref.product, ref.version, ref.sha256, ref.size, ref.url)


@dataclass
class Handheld:
    """The device itself, and what only it knows."""

    serial: str
    version: str = VERSIONS[0]
    working: bool = True
    unsent: int = 0  # records made since its last accepted hand-in
    handed_in_since_stop: bool = False
    start_for: str | None = None  # START received for this update (stored, maybe not acked)
    inbox: list[tuple[str, str]] = field(default_factory=list)  # (kind, update_id)

    def stop(self) -> None:
        if self.working:
            self.working = False
            self.handed_in_since_stop = False

    def resume(self) -> None:
        self.working = True


@dataclass
class GatewayDevice:
    enabled: bool = True
    block: Block | None = None
    admitted: str | None = None
    version: str = VERSIONS[0]


@dataclass
class GridRow:
    barrier: DeviceBarrier
    enabled: bool = True
    version: str = VERSIONS[0]


class Barrier(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tick = 0
        self.devices: dict[str, Handheld] = {}
        # the gateway
        self.gw_devices: dict[str, GatewayDevice] = {}
        self.gw_update: SiteUpdate | None = None
        self.site_package: Package | None = None
        self.started_waiting: dict[str, frozenset[str]] = {}  # update → admitted serials
        # the orchestrator
        self.update: Update | None = None
        self.grid: dict[str, GridRow] = {}
        self.server_version = VERSIONS[0]
        self.updates_opened = 0
        # the bus
        self.to_gateway: list[Message] = []
        self.to_orchestrator: list[Message] = []
        for serial in FIRST:
            self._register(serial)
        self._deliver_all()

    @initialize(start_sent=st.booleans())
    def an_update_is_open(self, start_sent: bool) -> None:
        """Every run begins in phase 1 of a first update, START sent to all or not yet."""
        self.opens_the_next_update()
        if start_sent:
            self.sends_start(None)
            self._deliver_all()

    # --- helpers ---------------------------------------------------------------------------

    def now(self) -> datetime:
        self.tick += 1
        return T0 + timedelta(seconds=self.tick)

    def _register(self, serial: str) -> None:
        device = self.devices.setdefault(serial, Handheld(serial))
        gw = self.gw_devices.setdefault(serial, GatewayDevice(version=device.version))
        if not gw.enabled:
            return  # D9: a disabled serial cannot register again
        self.to_orchestrator.append(DeviceRegistered(
            site_id=SITE, serial=serial, model="TC52", app_version=device.version,
            registered_at=self.now()))

    def _fleet(self) -> FleetSummary:
        rows = [r for r in self.grid.values() if r.enabled]
        target = self.update.to_version if self.update else None
        return FleetSummary(
            enabled=len(rows), blocked=sum(r.barrier.blocked for r in rows),
            waiting=sum(r.barrier.ready for r in rows),
            on_target=sum(r.version == target for r in rows))

    def _waiting_serials(self) -> tuple[str, ...]:
        return tuple(sorted(s for s, r in self.grid.items() if r.enabled and r.barrier.ready))

    def _decide(self, command: Command | InstallSucceeded) -> Decision | None:
        assert self.update is not None
        try:
            decision = decide(self.update, command, self.now())
        except Refused:
            return None
        self._carry_out(decision)
        return decision

    def _carry_out(self, decision: Decision) -> None:
        self.update = decision.state
        for effect in decision.effects:
            if isinstance(effect, ResetDeviceFlags):
                for row in self.grid.values():
                    row.barrier = DeviceBarrier(effect.update_id)
        self.to_gateway.extend(decision.messages)

    def _gateway_may(self, serial: str) -> GatewayDevice | None:
        """The gateway's row of a registered device that may act (403 otherwise)."""
        gw = self.gw_devices.get(serial)
        return gw if gw is not None and gw.enabled else None

    def _check_start(self, forced: bool, waiting: tuple[str, ...]) -> None:
        """Invariant 1, at the moment the server update starts."""
        assert self.update is not None
        self.started_waiting[self.update.update_id] = frozenset(waiting)
        if forced:
            return
        for serial, row in self.grid.items():
            if not row.enabled:
                continue
            device = self.devices[serial]
            assert not device.working, f"{serial} still works: the server update started"
            assert device.unsent == 0, f"{serial} has data not handed in"
            assert device.handed_in_since_stop, f"{serial} did not hand in after blocking"

    # --- devices ---------------------------------------------------------------------------

    @rule(serial=serials)
    def works(self, serial: str) -> None:
        device = self.devices.get(serial)
        if device is not None and device.working:
            device.unsent += 1

    @rule(serial=st.sampled_from(LATE))
    def registers(self, serial: str) -> None:
        """A new device, maybe in the middle of phase 1."""
        self._register(serial)

    @rule(serial=serials)
    def reconnects(self, serial: str) -> None:
        """Re-registration of a known device: new credentials, the same state everywhere."""
        if serial in self.devices:
            self._register(serial)

    @rule(serial=serials, acknowledge=st.booleans(), stop=st.booleans())
    def receives_a_notification(self, serial: str, acknowledge: bool, stop: bool) -> None:
        """START: a correct app stores it, stops and acknowledges; a faulty one may not
        acknowledge (it comes again) or may go on working. END is only acknowledged here
        (``installs_what_it_is_told`` asks what to install)."""
        device = self.devices.get(serial)
        if device is None or not device.inbox or self._gateway_may(serial) is None:
            return
        kind, update_id = device.inbox[0]
        if acknowledge:
            device.inbox.pop(0)
        if kind == "start":
            device.start_for = update_id
            if stop:
                device.stop()

    @rule(serial=serials, blocks=st.booleans(), acknowledge=st.booleans())
    def answers_start(self, serial: str, blocks: bool, acknowledge: bool) -> None:
        """The whole answer to START at once: a correct app stops, reports ``/blocked`` and
        hands in; a faulty one skips ``/blocked`` and goes on working, handing in anyway."""
        device = self.devices.get(serial)
        if device is None or not any(kind == "start" for kind, _ in device.inbox):
            return
        self.receives_a_notification(serial, acknowledge=acknowledge, stop=blocks)
        if blocks:
            self.reports_blocked(serial)
        self.hands_in(serial, "its update")

    @rule(serial=serials)
    def reports_blocked(self, serial: str) -> None:
        """``POST /blocked`` for the update its START named (the app stopped before)."""
        device = self.devices.get(serial)
        gw = self._gateway_may(serial)
        if device is None or gw is None or device.start_for is None:
            return
        device.stop()
        update_id = device.start_for
        if blocking_refusal(self.gw_update, update_id) is not None:
            return  # 409: stays stopped
        gw.block = block(gw.block, update_id, self.now())
        self.to_orchestrator.append(DeviceBlocked(
            site_id=SITE, update_id=update_id, serial=serial, blocked_at=gw.block.since))

    @rule(serial=serials, naming=st.sampled_from(["its update", "none", "the active one"]))
    def hands_in(self, serial: str, naming: str) -> None:
        """``POST /sync`` at any moment: before or after blocking, twice, naming the update
        its START named, none, or the site's active update (an app that guesses)."""
        device = self.devices.get(serial)
        gw = self._gateway_may(serial)
        if device is None or gw is None:
            return
        claimed = {"its update": device.start_for, "none": None,
                   "the active one": self.gw_update.update_id if self.gw_update else None
                   }[naming]
        decision = decide_sync(self.gw_update, claimed_update_id=claimed, block=gw.block,
                               admitted_update_id=gw.admitted, app_version=gw.version)
        if not decision.accepted:
            return  # 409 sync_refused: the device keeps its data
        update = self.gw_update
        if (update is not None and update.package is not None
                and update.phase not in (Phase.PREPARING, Phase.CANCELLED, Phase.FAILED)
                and gw.version != update.package.version):
            admitted = self.started_waiting.get(update.update_id, frozenset())
            assert serial in admitted and not device.working, (
                f"{serial} handed in data of the old version after the server update started "
                "although it was not waiting (or works again)")
        device.unsent = 0
        if not device.working:
            device.handed_in_since_stop = True
        self.to_orchestrator.append(DeviceDataHandedIn(
            site_id=SITE, serial=serial, update_id=decision.waiting_update_id,
            synced_at=self.now(), blocked_at=decision.blocked_since))

    @rule(serial=serials, unblock=st.booleans())
    def offline_codes(self, serial: str, unblock: bool) -> None:
        """The three-code exchange: the device blocks (or resumes) when code 2 is verified
        on it, the gateway when code 3 is; a block needs an active update at the site."""
        device = self.devices.get(serial)
        gw = self._gateway_may(serial)
        if device is None or gw is None:
            return
        if unblock:
            device.resume()
            gw.block, gw.admitted = None, None
            self.to_orchestrator.append(DeviceUnblocked(
                site_id=SITE, serial=serial, unblocked_at=self.now(), by_code=True))
            return
        if self.gw_update is None or not self.gw_update.active:
            return  # 409 no_active_update
        device.stop()
        gw.block = block(gw.block, self.gw_update.update_id, self.now(), by_code=True)
        self.to_orchestrator.append(DeviceBlocked(
            site_id=SITE, update_id=gw.block.update_id, serial=serial,
            blocked_at=gw.block.since, by_code=True))

    @rule(serial=serials)
    def installs_what_it_is_told(self, serial: str) -> None:
        """``GET /update``, then download, install, ``POST /version``; back to work."""
        self._install(serial)

    def _install(self, serial: str) -> None:
        device = self.devices.get(serial)
        gw = self._gateway_may(serial)
        if device is None or gw is None:
            return
        directive = decide_directive(self.gw_update, app_version=gw.version,
                                     site_package=self.site_package)
        if directive.package is None:
            return
        device.version = gw.version = directive.package.version
        device.resume()
        self.to_orchestrator.append(DeviceVersionReported(
            site_id=SITE, serial=serial, app_version=device.version, reported_at=self.now()))

    # --- the bus ---------------------------------------------------------------------------

    @precondition(lambda self: bool(self.to_gateway))
    @rule()
    def gateway_consumes(self) -> None:
        self._to_gateway(self.to_gateway.pop(0))

    def _to_gateway(self, message: Message) -> None:
        match message:
            case UpdateOpened():
                self._advance(message.update_id, Phase.PREPARING,
                              package(message.package.version))
            case ServerUpdateStarted():
                self._advance(message.update_id, Phase.SERVER_UPDATING)
                for serial in message.waiting_serials:
                    self.gw_devices[serial].admitted = message.update_id
            case DevicesReleased():
                self._advance(message.update_id, Phase.RELEASED,
                              package(message.package.version))
            case UpdateConcluded():
                if self._advance(message.update_id, Phase.CONCLUDED) and message.package:
                    self.site_package = package(message.package.version)
            case DeviceNotificationRequested():
                for serial, device in self.devices.items():
                    gw = self.gw_devices[serial]
                    if gw.enabled and (message.serials is None or serial in message.serials):
                        device.inbox.append((message.kind, message.update_id))
            case DeviceDisabled() | DeviceEnabled():
                self.gw_devices[message.serial].enabled = isinstance(message, DeviceEnabled)

    def _advance(self, update_id: str, phase: Phase, pkg: Package | None = None) -> bool:
        new = advance(self.gw_update, update_id, phase, pkg)
        if new is not None:
            self.gw_update = new
        return new is not None

    @precondition(lambda self: bool(self.to_orchestrator))
    @rule(data=st.data())
    def orchestrator_consumes(self, data: st.DataObject) -> None:
        """Any of the gateway's events, not necessarily the oldest."""
        index = data.draw(st.integers(0, len(self.to_orchestrator) - 1), label="event")
        self._to_orchestrator(self.to_orchestrator.pop(index))

    @precondition(lambda self: bool(self.to_gateway or self.to_orchestrator))
    @rule(data=st.data())
    def bus_delivers_everything(self, data: st.DataObject) -> None:
        """Both queues drained; the gateway's events in an order drawn at random."""
        while self.to_gateway:
            self._to_gateway(self.to_gateway.pop(0))
        for event in data.draw(st.permutations(self.to_orchestrator), label="events"):
            self._to_orchestrator(event)
        self.to_orchestrator.clear()

    def _to_orchestrator(self, event: Message) -> None:
        row = self.grid.get(getattr(event, "serial", ""))
        match event:
            case DeviceRegistered():
                if row is None:
                    active = self.update.update_id if self.update and self.update.active else None
                    self.grid[event.serial] = GridRow(DeviceBarrier(active),
                                                      version=event.app_version)
                return
            case DeviceVersionReported() if row is not None:
                row.version = event.app_version
                return
        if row is None:
            return  # its registration has not arrived: nothing to change yet
        in_phase_1 = (self.update is not None and self.update.state in PHASE_1
                      and row.barrier.update_id == self.update.update_id)
        match event:
            case DeviceBlocked():
                new = on_blocked(row.barrier, event.update_id, event.blocked_at)
            case DeviceUnblocked():
                new = on_unblocked(row.barrier, event.unblocked_at)
            case DeviceDataHandedIn():
                new = on_handed_in(row.barrier, event.update_id, event.blocked_at,
                                   in_phase_1=in_phase_1)
            case _:
                new = None
        if new is not None:
            row.barrier = new

    # --- admins ----------------------------------------------------------------------------

    @precondition(lambda self: (self.update is None or not self.update.active)
                  and self.updates_opened < len(VERSIONS) - 1)
    @rule()
    def opens_the_next_update(self) -> None:
        self.updates_opened += 1
        to = VERSIONS[self.updates_opened]
        release = Release(site_id=SITE, product="shop", status=ReleaseStatus.DOWNLOADED,
                          version=to, package=package_ref(to))
        command = OpenUpdate(update_id=f"u{self.updates_opened}", site_id=SITE,
                             product="shop", backups_confirmed=True, actor="anna")
        self._carry_out(open_update(command, active=None, release=release,
                                    installed_version=self.server_version, now=self.now()))

    @precondition(lambda self: self.update is not None and self.update.state in PHASE_1)
    @rule(to_one=st.none() | serials)
    def sends_start(self, to_one: str | None) -> None:
        self._decide(SendStart(f"r{self.tick}", "anna",
                               None if to_one is None else (to_one,)))

    @precondition(lambda self: self.update is not None and self.update.state in PHASE_1)
    @rule()
    def starts_the_server_update(self) -> None:
        waiting = self._waiting_serials()
        decision = self._decide(StartServerUpdate("anna", waiting, fleet=self._fleet()))
        if decision is not None:
            self._check_start(forced=False, waiting=waiting)

    @precondition(lambda self: self.update is not None and self.update.state in PHASE_1)
    @rule()
    def two_admins_force(self) -> None:
        self._decide(RequestForce("anna", fleet=self._fleet()))
        waiting = self._waiting_serials()
        if self._decide(ApproveForce("bruno", site_admins=len(ADMINS), waiting_serials=waiting,
                                     fleet=self._fleet())) is not None:
            self._check_start(forced=True, waiting=waiting)

    @precondition(lambda self: self.update is not None
                  and self.update.state is UpdateState.SERVER_UPDATING)
    @rule()
    def installer_succeeds(self) -> None:
        assert self.update is not None
        self._decide(InstallSucceeded(site_id=SITE, update_id=self.update.update_id,
                                      installed_version=self.update.to_version, duration_s=60))
        self.server_version = self.update.to_version

    @precondition(lambda self: self.update is not None
                  and self.update.state is UpdateState.SERVER_UPDATED)
    @rule(to_one=st.none() | serials)
    def sends_end(self, to_one: str | None) -> None:
        self._decide(SendEnd(f"r{self.tick}", "anna", None if to_one is None else (to_one,)))

    @precondition(lambda self: self.update is not None
                  and self.update.state is UpdateState.SERVER_UPDATED)
    @rule()
    def concludes(self) -> None:
        self._decide(Conclude("anna", confirm_not_updated=True, fleet=self._fleet()))

    @rule(serial=serials, enabled=st.booleans())
    def disables_or_enables(self, serial: str, enabled: bool) -> None:
        """U10: the grid at once, the gateway when the event reaches it."""
        row = self.grid.get(serial)
        if row is None or row.enabled == enabled:
            return
        row.enabled = enabled
        self.to_gateway.append(
            DeviceEnabled(site_id=SITE, serial=serial, enabled_by="anna") if enabled
            else DeviceDisabled(site_id=SITE, serial=serial, disabled_by="anna"))

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def waiting_means_blocked(self) -> None:
        for row in self.grid.values():
            assert row.barrier.blocked or not row.barrier.waiting

    def teardown(self) -> None:
        """Finish whatever update is under way (forcing if needed), release and conclude it,
        let every device catch up: all end on the site's version."""
        self._deliver_all()
        if self.update is not None and self.update.state in PHASE_1:
            self.starts_the_server_update()
            if self.update.state in PHASE_1:
                self.two_admins_force()
        if self.update is not None and self.update.state is UpdateState.SERVER_UPDATING:
            self.installer_succeeds()
        if self.update is not None and self.update.state is UpdateState.SERVER_UPDATED:
            self.sends_end(None)
            self._deliver_all()
            for serial in self.devices:
                self._install(serial)
            self._deliver_all()
            self.concludes()
        for serial, row in self.grid.items():
            if not row.enabled:
                self.disables_or_enables(serial, True)
        self._deliver_all()
        for serial in self.devices:
            self._install(serial)
        versions = {d.serial: d.version for d in self.devices.values()}
        assert set(versions.values()) == {self.server_version}, (
            f"devices on {versions}, the server on {self.server_version}")

    def _deliver_all(self) -> None:
        """Everything still on the bus; the gateway's events newest first."""
        while self.to_gateway:
            self._to_gateway(self.to_gateway.pop(0))
        while self.to_orchestrator:
            self._to_orchestrator(self.to_orchestrator.pop())


Barrier.TestCase.settings = settings(
    max_examples=150, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_the_barrier_holds = Barrier.TestCase
