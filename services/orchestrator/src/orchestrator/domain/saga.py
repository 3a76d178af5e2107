"""The update saga as a pure function: ``decide(update, command_or_event, now)``.

Every rule of the procedure is here and nowhere else: when START may be sent (phase 1), when
the server update may start (every enabled device waiting, U6) or be forced (U7), what the
installer's outcome does (U8, U12), when END may be sent and what releases the devices (U9),
when the update may be concluded (U11) or cancelled (U2). No I/O, no clock, no ids: ``now``,
ids and the fleet summary (inside the commands whose rules count devices) come in; the new
state, the messages to publish and the effects on the service's own tables come out.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TypeAlias

from lockstep_shared.catalogue import (
    AgentHeartbeat,
    DeviceNotificationRequested,
    DevicesReleased,
    InstallFailed,
    InstallProgressed,
    InstallRequested,
    InstallStarted,
    InstallSucceeded,
    Message,
    ServerUpdated,
    ServerUpdateStarted,
    UpdateCancelled,
    UpdateConcluded,
    UpdateFailed,
    UpdateOpened,
    UpdateResolved,
)
from lockstep_shared.contracts import confirmation_code as confirmation
from lockstep_shared.versions import Version
from orchestrator.domain.commands import (
    ApproveForce,
    Cancel,
    Command,
    Conclude,
    NewChallenge,
    OpenUpdate,
    ReactivateDevices,
    RequestForce,
    ResolveFailure,
    SendEnd,
    SendStart,
    StartServerUpdate,
    SubmitConfirmationCode,
)
from orchestrator.domain.decisions import (
    CodeRejected,
    Decision,
    MarkNotificationsPending,
    PublishSiteConfiguration,
    ResetDeviceFlags,
    SetProductVersion,
    SettleDevices,
    UnlockRelease,
    unchanged,
)
from orchestrator.domain.model import (
    AgentStatus,
    ConfirmationNeeded,
    Failure,
    FleetSummary,
    InvalidCommand,
    NotAllowed,
    NotPermitted,
    PlatformRequired,
    TooManyAttempts,
    Update,
    UpdateState,
)
from orchestrator.domain.platform import PLATFORM_PRODUCT, platform_required
from orchestrator.domain.releases import Release, ReleaseStatus

PHASE_1 = (UpdateState.OPEN, UpdateState.NOTIFYING)
InstallerEvent: TypeAlias = (
    InstallStarted | InstallProgressed | AgentHeartbeat | InstallSucceeded | InstallFailed
)


# --- opening --------------------------------------------------------------------------------


def open_update(
    command: OpenUpdate,
    *,
    active: Update | None,
    release: Release | None,
    installed_version: str | None,
    now: datetime,
    entitled: bool = True,
    installed_platform: str | None = None,
) -> Decision:
    """U2/U14: open "Manage update" for the product's downloaded release. R4: never while
    the site's update subscription is inactive. R8: never while the release needs a newer
    platform than ``installed_platform`` (the site's platform version): that update first.
    U13: a release that needs a confirmation code (and was not unlocked before) waits for it,
    showing the command's challenge."""
    if not command.backups_confirmed:
        raise InvalidCommand(
            "backups not confirmed: make sure full backups of the server and its database "
            "exist, then open the update again with backups_confirmed: true",
            reason="backups_not_confirmed")
    if active is not None and active.state is UpdateState.FAILED:
        raise NotAllowed(
            f"update {active.update_id} ({active.product} to {active.to_version}) failed at "
            f"site {command.site_id}: vendor support must resolve it before a new update can "
            "open (send them the failure report; a failed update cannot be cancelled)",
            reason="failed_update_unresolved", update_id=active.update_id)
    if active is not None:
        raise NotAllowed(
            f"update {active.update_id} ({active.product}, {active.state}) is already active at "
            f"site {command.site_id}: only one update per site; finish or cancel it first",
            reason="update_already_open", update_id=active.update_id, product=active.product)
    if not entitled:
        raise NotAllowed(
            f"site {command.site_id} has no active update subscription: no release is offered "
            "until the vendor renews it", reason="no_subscription")
    if installed_version is None:
        raise NotAllowed(f"product {command.product!r} is not installed at site {command.site_id}",
                         reason="product_not_installed", product=command.product)
    if (
        release is None
        or release.status is not ReleaseStatus.DOWNLOADED
        or release.package is None
        or release.version is None
    ):
        raise NotAllowed(
            f"no downloaded release of {command.product!r} at site {command.site_id}: wait until "
            "the banner is green (package downloaded and verified)",
            reason="no_downloaded_release", product=command.product)
    if Version.parse(release.version) <= Version.parse(installed_version):
        raise NotAllowed(
            f"release {release.version} is not newer than the installed {installed_version}",
            reason="release_not_newer", version=release.version, installed=installed_version)
    needed = platform_required(release.min_platform_version, installed_platform)
    if needed is not None:
        installed = f"platform {installed_platform}" if installed_platform else "no platform"
        raise PlatformRequired(
            f"{command.product} {release.version} needs platform {needed} or newer and site "
            f"{command.site_id} has {installed}: update the platform to {needed} first (its "
            f"own update: Manage update of {PLATFORM_PRODUCT}), then open this one",
            product=command.product, version=release.version, platform_version=needed,
            installed_platform_version=installed_platform,
        )
    needs_code = release.requires_confirmation_code and not release.code_unlocked
    if needs_code and command.challenge is None:
        raise ValueError("a release needing a confirmation code is opened with a challenge")
    update = Update(
        update_id=command.update_id,
        site_id=command.site_id,
        product=command.product,
        from_version=installed_version,
        to_version=release.version,
        package=release.package,
        state=UpdateState.AWAITING_CODE if needs_code else UpdateState.OPEN,
        opened_at=now,
        opened_by=command.actor,
        notes_url=release.notes_url,
        challenge=command.challenge if needs_code else None,
    )
    if needs_code:
        return Decision(update)
    return _opened(update)


def reopens_awaiting_code(active: Update | None, command: OpenUpdate) -> bool:
    """U13: opening "Manage update" again (backups confirmed) while the same product's update
    awaits its code does not make a second update: the open one gets a fresh challenge."""
    return (command.backups_confirmed and active is not None
            and active.state is UpdateState.AWAITING_CODE and active.product == command.product)


def _opened(update: Update) -> Decision:
    message = UpdateOpened(
        site_id=update.site_id,
        update_id=update.update_id,
        from_version=update.from_version,
        package=update.package,
    )
    return Decision(update, (message,), (ResetDeviceFlags(update.update_id),))


# --- every later step -----------------------------------------------------------------------


def decide(update: Update, command_or_event: Command | InstallerEvent, now: datetime) -> Decision:
    """The next state of ``update`` and what to publish. Raises a refusal (``NotAllowed``,
    ``InvalidCommand``, ``NotPermitted``, ``TooManyAttempts``) for a command the rules refuse;
    an installer event that no longer applies (another update, a later state: a redelivery)
    changes nothing."""
    match command_or_event:
        case InstallStarted() | InstallProgressed() | AgentHeartbeat() | InstallSucceeded() | (
            InstallFailed()
        ):
            return _installer_event(update, command_or_event, now)
        case NewChallenge():
            _require(update, (UpdateState.AWAITING_CODE,), "show a new confirmation challenge",
                     "challenge")
            return Decision(replace(update, challenge=command_or_event.challenge,
                                    code_attempts=0))
        case SubmitConfirmationCode():
            return _submit_code(update, command_or_event)
        case SendStart():
            return _send_start(update, command_or_event, now)
        case StartServerUpdate():
            return _start_server_update(update, command_or_event, now)
        case RequestForce():
            return _request_force(update, command_or_event, now)
        case ApproveForce():
            return _approve_force(update, command_or_event, now)
        case SendEnd():
            return _send_end(update, command_or_event)
        case Conclude():
            return _conclude(update, command_or_event, now)
        case Cancel():
            return _cancel(update, command_or_event, now)
        case ReactivateDevices():
            _require(update, (UpdateState.FAILED,), "reactivate the devices (ERROR UPDATE)",
                     "reactivate")
            message = DeviceNotificationRequested(
                site_id=update.site_id, update_id=update.update_id, kind="error",
                serials=None, request_id=command_or_event.request_id,
            )
            reactivated = replace(update, devices_reactivated_at=(
                update.devices_reactivated_at or now))
            return Decision(reactivated, (message,),
                            (MarkNotificationsPending("error", None),))
        case ResolveFailure():
            _require(update, (UpdateState.FAILED,), "resolve a failure", "resolve")
            resolved = replace(update, state=UpdateState.RESOLVED, closed_at=now,
                               closed_by=command_or_event.actor)
            return Decision(resolved, (UpdateResolved(
                site_id=update.site_id, update_id=update.update_id,
                resolved_by=command_or_event.actor),), (SettleDevices(),))
    raise InvalidCommand(f"not a command of the update saga: {type(command_or_event).__name__}")


FAILED_NEXT = ("a failed update waits for vendor support: reactivate the devices, send the "
               "failure report, and support resolves it")


def _require(update: Update, states: tuple[UpdateState, ...], action: str, step: str) -> None:
    """``step``: the action's code (the console's refusal.wrong_step_<step>)."""
    if update.state not in states:
        allowed = " or ".join(s.value for s in states)
        raise NotAllowed(
            f"cannot {action}: update {update.update_id} is {update.state.value}, "
            f"this is allowed only when it is {allowed}"
            + (f" ({FAILED_NEXT})" if update.state is UpdateState.FAILED else ""),
            reason=f"wrong_step.{step}", state=update.state.value)


def _send_start(update: Update, command: SendStart, now: datetime) -> Decision:
    _require(update, PHASE_1, "send START UPDATE (phase 1 only)", "send_start")
    message = DeviceNotificationRequested(
        site_id=update.site_id, update_id=update.update_id, kind="start",
        serials=command.serials, request_id=command.request_id,
    )
    new = replace(update, state=UpdateState.NOTIFYING,
                  notifying_since=update.notifying_since or now)
    return Decision(new, (message,), (MarkNotificationsPending("start", command.serials),))


def _server_update_started(
    update: Update, now: datetime, *, forced: bool, authorized_by: tuple[str, ...],
    waiting_serials: tuple[str, ...],
) -> Decision:
    new = replace(update, state=UpdateState.SERVER_UPDATING, server_update_started_at=now,
                  forced=forced, authorized_by=authorized_by, agent=AgentStatus())
    messages: tuple[Message, ...] = (
        ServerUpdateStarted(site_id=update.site_id, update_id=update.update_id, forced=forced,
                            waiting_serials=waiting_serials),
        InstallRequested(site_id=update.site_id, update_id=update.update_id,
                         package=update.package),
    )
    return Decision(new, messages)


def _start_server_update(update: Update, command: StartServerUpdate, now: datetime) -> Decision:
    _require(update, PHASE_1, "start the server update", "server_update")
    fleet = command.fleet
    if not fleet.all_waiting:
        missing = fleet.enabled - fleet.waiting
        raise NotAllowed(
            f"{missing} of {fleet.enabled} enabled devices are not waiting for update yet: "
            "send START UPDATE again, block them manually with codes, or force the update",
            reason="devices_not_waiting", missing=missing, enabled=fleet.enabled)
    return _server_update_started(update, now, forced=False, authorized_by=(command.actor,),
                                  waiting_serials=command.waiting_serials)


def _force_allowed(update: Update, fleet: FleetSummary, action: str) -> None:
    _require(update, PHASE_1, action, "force")
    if fleet.all_waiting:
        raise NotAllowed("every enabled device is waiting for update: start the update "
                         "normally (server-update), no force needed",
                         reason="no_force_needed")


def _request_force(update: Update, command: RequestForce, now: datetime) -> Decision:
    """U7, first authorization: recorded on the update until a second one approves."""
    _force_allowed(update, command.fleet, "ask to force the update")
    if update.force_requested_by is not None:
        return unchanged(update)
    return Decision(replace(update, force_requested_by=command.actor, force_requested_at=now))


def _approve_force(update: Update, command: ApproveForce, now: datetime) -> Decision:
    """U7, second authorization: a second, different admin; or, on a site with exactly one
    admin, the requester again with the password re-entered (recorded as such)."""
    _force_allowed(update, command.fleet, "force the update")
    requester = update.force_requested_by
    if requester is None:
        raise NotAllowed("nobody asked to force this update yet: an admin asks first "
                         "(force-requests), then a second authorization approves",
                         reason="force_not_requested")
    if command.actor != requester:
        authorized_by: tuple[str, ...] = (requester, command.actor)
    elif command.site_admins > 1:
        raise NotPermitted(
            f"{requester} asked to force the update: a second, different admin of the site "
            "must approve it (double authorization)",
            reason="second_admin_needed", requester=requester)
    elif not command.password_reentered:
        raise NotPermitted(
            "the site has one admin: approve your own request by re-entering your password",
            reason="password_needed")
    else:
        authorized_by = (requester, f"{requester} (single admin, password re-entered)")
    started = replace(update, force_requested_by=None, force_requested_at=None)
    return _server_update_started(started, now, forced=True, authorized_by=authorized_by,
                                  waiting_serials=command.waiting_serials)


def _submit_code(update: Update, command: SubmitConfirmationCode) -> Decision:
    """U13: a valid response opens phase 1 and unlocks the release for good; a wrong one is
    counted; after ``MAX_ATTEMPTS`` wrong ones only a new challenge helps."""
    _require(update, (UpdateState.AWAITING_CODE,), "enter a confirmation code", "code")
    if update.code_attempts >= confirmation.MAX_ATTEMPTS or update.challenge is None:
        raise TooManyAttempts(
            f"{confirmation.MAX_ATTEMPTS} wrong confirmation codes for this challenge: ask "
            "for a new challenge (open Manage update again) and the vendor's new response",
            reason="too_many_codes", attempts=confirmation.MAX_ATTEMPTS)
    if not confirmation.response_is_valid(command.license_key, update.challenge,
                                          update.product, update.to_version,
                                          command.response):
        attempts = update.code_attempts + 1
        return Decision(replace(update, code_attempts=attempts),
                        rejected=CodeRejected(confirmation.MAX_ATTEMPTS - attempts))
    opened = _opened(replace(update, state=UpdateState.OPEN, challenge=None, code_attempts=0))
    return replace(opened, effects=(*opened.effects,
                                    UnlockRelease(update.product, update.to_version)))


def _installer_event(update: Update, event: InstallerEvent, now: datetime) -> Decision:
    if event.update_id != update.update_id or update.state is not UpdateState.SERVER_UPDATING:
        return unchanged(update)
    agent = update.agent
    match event:
        case InstallStarted():
            return Decision(replace(update, agent=replace(agent,
                                                          install_started_at=event.started_at)))
        case InstallProgressed():
            agent = replace(agent, last_progress=event.line, last_progress_at=now,
                            last_percent=event.percent if event.percent is not None
                            else agent.last_percent)
            return Decision(replace(update, agent=agent))
        case AgentHeartbeat():
            if agent.last_heartbeat is not None and event.at <= agent.last_heartbeat:
                return unchanged(update)
            return Decision(replace(update, agent=replace(agent, last_heartbeat=event.at)))
        case InstallSucceeded():
            new = replace(update, state=UpdateState.SERVER_UPDATED, server_updated_at=now)
            message = ServerUpdated(site_id=update.site_id, update_id=update.update_id,
                                    product=update.product,
                                    installed_version=event.installed_version)
            return Decision(new, (message,),
                            (SetProductVersion(update.product, event.installed_version),))
        case InstallFailed():
            failure = Failure(reason=event.reason, exit_code=event.exit_code,
                              log_tail=event.log_tail, interrupted=event.interrupted)
            new = replace(update, state=UpdateState.FAILED, failure=failure, failed_at=now)
            failed = UpdateFailed(site_id=update.site_id, update_id=update.update_id,
                                  reason=event.reason)
            return Decision(new, (failed,))
    return unchanged(update)


def _send_end(update: Update, command: SendEnd) -> Decision:
    _require(update, (UpdateState.SERVER_UPDATED,),
             "send END UPDATE (phase 3 only, after the server was updated)", "send_end")
    messages: list[Message] = [DeviceNotificationRequested(
        site_id=update.site_id, update_id=update.update_id, kind="end",
        serials=command.serials, request_id=command.request_id,
    )]
    if not update.devices_released:
        messages.insert(0, DevicesReleased(site_id=update.site_id, update_id=update.update_id,
                                           package=update.package))
    new = replace(update, devices_released=True)
    return Decision(new, tuple(messages), (MarkNotificationsPending("end", command.serials),))


def _conclude(update: Update, command: Conclude, now: datetime) -> Decision:
    fleet = command.fleet
    _require(update, (UpdateState.SERVER_UPDATED,), "conclude the update (phase 3 only)",
             "conclude")
    if fleet.not_on_target and not command.confirm_not_updated:
        raise ConfirmationNeeded(
            f"{fleet.not_on_target} of {fleet.enabled} enabled devices are not on version "
            f"{update.to_version} yet; after concluding they update themselves on their next "
            "start. To conclude anyway, send confirm_not_updated: true",
            fleet.not_on_target, reason="devices_not_updated", missing=fleet.not_on_target,
            enabled=fleet.enabled, version=update.to_version)
    new = replace(update, state=UpdateState.CONCLUDED, closed_at=now, closed_by=command.actor)
    message = UpdateConcluded(site_id=update.site_id, update_id=update.update_id,
                              product=update.product, version=update.to_version,
                              package=update.package)
    return Decision(new, (message,), (PublishSiteConfiguration(), SettleDevices()))


def _cancel(update: Update, command: Cancel, now: datetime) -> Decision:
    if update.state is UpdateState.NOTIFYING:
        raise NotAllowed(
            "devices were already sent START UPDATE: the update can no longer be cancelled",
            reason="cancel_after_start")
    _require(update, (UpdateState.OPEN, UpdateState.AWAITING_CODE), "cancel the update",
             "cancel")
    new = replace(update, state=UpdateState.CANCELLED, closed_at=now, closed_by=command.actor)
    if update.state is UpdateState.AWAITING_CODE:  # nothing was announced yet
        return Decision(new)
    return Decision(new, (UpdateCancelled(site_id=update.site_id, update_id=update.update_id),))
