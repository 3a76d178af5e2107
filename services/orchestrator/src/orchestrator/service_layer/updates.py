"""Handlers of the update saga. Always the same four steps: load, decide (pure), save the new
state and the outbox rows in ONE transaction, commit (then wake the relay). A lost
optimistic-concurrency race (``ConcurrentUpdate``) runs the whole handler again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep_shared.catalogue import (
    InstallFailed,
    InstallStarted,
    InstallSucceeded,
    Message,
    ProductVersion,
    SiteConfigured,
)
from lockstep_shared.envelope import Envelope
from lockstep_shared.inbox import ConcurrentUpdate
from orchestrator.domain.accounts import Account, Unauthenticated
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
    UnlockRelease,
)
from orchestrator.domain.model import (
    FleetSummary,
    InvalidCommand,
    NotAllowed,
    NotPermitted,
    TooManyAttempts,
    Update,
    UpdateAlreadyActive,
)
from orchestrator.domain.saga import InstallerEvent, decide, open_update, reopens_awaiting_code
from orchestrator.domain.sites import Site
from orchestrator.service_layer.context import Context
from orchestrator.service_layer.errors import CodeNotValid, NotFound

ATTEMPTS = 5
BuildCommand = Callable[[AsyncConnection, Update], Awaitable[Command]]
REFUSALS = (NotAllowed, InvalidCommand, NotPermitted, TooManyAttempts)


class UpdateHandlers:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- admin commands -----------------------------------------------------------------

    async def open(self, site_id: str, product: str, backups_confirmed: bool,
                   actor: Account) -> Update:
        ctx = self.ctx
        command = OpenUpdate(update_id=ctx.ids(), site_id=site_id, product=product,
                             backups_confirmed=backups_confirmed, actor=actor.username,
                             challenge=ctx.challenges())
        try:
            async with ctx.engine.begin() as conn:
                site = await ctx.sites.get(conn, site_id)
                if site is None:
                    raise NotFound(f"unknown site {site_id!r}")
                active = await ctx.updates.active_for_site(conn, site_id)
                if reopens_awaiting_code(active, command):
                    assert active is not None
                    decision = decide(active, NewChallenge(actor.username, command.challenge
                                                           or ""), ctx.clock())
                    update = await self._carry_out(conn, decision, None)
                    await ctx.audit(conn, actor, "update.challenge", site_id=site_id,
                                    update_id=update.update_id)
                else:
                    decision = open_update(
                        command, active=active,
                        release=await ctx.releases.get(conn, site_id, product),
                        installed_version=site.products.get(product), now=ctx.clock(),
                        entitled=(await ctx.entitlements.get(conn, site_id)).active,
                    )
                    update = await ctx.updates.add(conn, decision.state)
                    await self._carry_out(conn, decision, None)
                    await ctx.audit(conn, actor, "update.open", site_id=site_id,
                                    update_id=update.update_id, product=product,
                                    to_version=update.to_version, backups_confirmed=True,
                                    state=update.state.value)
        except UpdateAlreadyActive:
            await self._refused(actor, "update.open", site_id, None, "another update was "
                                "opened at the same moment")
            raise UpdateAlreadyActive(
                f"another update was opened at site {site_id} at the same moment: only one "
                "update per site; reload to see it"
            ) from None
        except REFUSALS as exc:
            await self._refused(actor, "update.open", site_id, None, str(exc),
                                product=product, backups_confirmed=backups_confirmed)
            raise
        ctx.outbox.committed()
        return update

    async def new_challenge(self, update_id: str, actor: Account) -> Update:
        challenge = self.ctx.challenges()
        return await self._run(update_id, _fixed(NewChallenge(actor.username, challenge)),
                               actor, "update.challenge")

    async def submit_code(self, update_id: str, response: str, actor: Account) -> Update:
        async def build(conn: AsyncConnection, update: Update) -> Command:
            site = await self.ctx.sites.get(conn, update.site_id)
            return SubmitConfirmationCode(actor.username, response,
                                          site.license_key if site else "")

        return await self._run(update_id, build, actor, "update.confirmation_code")

    async def request_force(self, update_id: str, actor: Account) -> Update:
        async def build(conn: AsyncConnection, update: Update) -> Command:
            return RequestForce(actor.username, fleet=await self._fleet(conn, update))

        return await self._run(update_id, build, actor, "update.force_request")

    async def approve_force(self, update_id: str, actor: Account, password: str | None,
                            password_matches: Callable[[str], Awaitable[bool]]) -> Update:
        """U7: the second authorization. A re-entered password is checked first (401)."""
        reentered = False
        if password is not None:
            if not await password_matches(password):
                await self._refused(actor, "update.force_approval", None, update_id,
                                    "wrong password re-entered")
                raise Unauthenticated("the re-entered password is wrong")
            reentered = True

        async def build(conn: AsyncConnection, update: Update) -> Command:
            return ApproveForce(
                actor.username,
                site_admins=await self.ctx.accounts.site_admins(conn, update.site_id),
                password_reentered=reentered,
                waiting_serials=await self.ctx.devices.waiting_serials(conn, update.site_id),
                fleet=await self._fleet(conn, update))

        return await self._run(update_id, build, actor, "update.force_approval")

    async def resolve(self, update_id: str, actor: Account) -> Update:
        return await self._run(update_id, _fixed(ResolveFailure(actor.username)), actor,
                               "update.resolve")

    async def send_start(self, update_id: str, serials: tuple[str, ...] | None,
                         actor: Account) -> tuple[Update, str]:
        request_id = self.ctx.ids()
        update = await self._run(update_id,
                                 _fixed(SendStart(request_id, actor.username, serials)),
                                 actor, "update.start_push", serials=_listed(serials))
        return update, request_id

    async def start_server_update(self, update_id: str, actor: Account) -> Update:
        async def build(conn: AsyncConnection, update: Update) -> Command:
            waiting = await self.ctx.devices.waiting_serials(conn, update.site_id)
            return StartServerUpdate(actor.username, waiting,
                                     fleet=await self._fleet(conn, update))

        return await self._run(update_id, build, actor, "update.server_update")

    async def send_end(self, update_id: str, serials: tuple[str, ...] | None,
                       actor: Account) -> tuple[Update, str]:
        request_id = self.ctx.ids()
        update = await self._run(update_id, _fixed(SendEnd(request_id, actor.username, serials)),
                                 actor, "update.end_push", serials=_listed(serials))
        return update, request_id

    async def conclude(self, update_id: str, confirm_not_updated: bool,
                       actor: Account) -> Update:
        async def build(conn: AsyncConnection, update: Update) -> Command:
            return Conclude(actor.username, confirm_not_updated,
                            fleet=await self._fleet(conn, update))

        return await self._run(update_id, build, actor, "update.conclude",
                               confirm_not_updated=confirm_not_updated)

    async def cancel(self, update_id: str, actor: Account) -> Update:
        return await self._run(update_id, _fixed(Cancel(actor.username)), actor,
                               "update.cancel")

    async def reactivate_devices(self, update_id: str, actor: Account) -> Update:
        return await self._run(update_id,
                               _fixed(ReactivateDevices(self.ctx.ids(), actor.username)),
                               actor, "update.error_push")

    async def _fleet(self, conn: AsyncConnection, update: Update) -> FleetSummary:
        return await self.ctx.devices.fleet_summary(conn, update.site_id, update.to_version)

    async def _run(self, update_id: str, build: BuildCommand, actor: Account, action: str,
                   **details: Any) -> Update:
        """Load, decide, save state + outbox + audit entry in one transaction, commit. A
        refusal is audited too (its own transaction) and re-raised."""
        ctx = self.ctx
        site_id: str | None = None
        rejected: CodeRejected | None = None
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with ctx.engine.begin() as conn:
                    update = await ctx.updates.get(conn, update_id)
                    if update is None:
                        raise NotFound(f"unknown update {update_id!r}")
                    site_id = update.site_id
                    command = await build(conn, update)
                    decision = decide(update, command, ctx.clock())
                    saved = await self._carry_out(conn, decision, None, actor.username)
                    rejected = decision.rejected
                    await ctx.audit(
                        conn, actor, action, site_id=site_id, update_id=update_id,
                        outcome="rejected: " + rejected.message if rejected else "ok",
                        state=saved.state.value, **_audit_details(saved, action), **details)
            except ConcurrentUpdate:
                if attempt == ATTEMPTS:
                    raise NotAllowed(f"update {update_id} is being changed by someone else "
                                     "right now; reload and try again") from None
                continue
            except REFUSALS as exc:
                await self._refused(actor, action, site_id, update_id, str(exc), **details)
                raise
            ctx.outbox.committed()
            if rejected is not None:
                raise CodeNotValid(rejected)
            return saved
        raise AssertionError("unreachable")

    async def _refused(self, actor: Account, action: str, site_id: str | None,
                       update_id: str | None, reason: str, **details: Any) -> None:
        await self.ctx.audit_alone(actor, action, outcome=f"refused: {reason}",
                                   site_id=site_id, update_id=update_id, **details)

    # --- installer events (inside the consumer's idempotent transaction) ----------------

    async def on_installer_event(self, conn: AsyncConnection, envelope: Envelope,
                                 event: InstallerEvent) -> None:
        update_id = event.update_id
        if update_id is None:  # a heartbeat outside any install
            return
        update = await self.ctx.updates.get(conn, update_id)
        if update is None:
            return
        decision = decide(update, event, self.ctx.clock())
        await self._carry_out(conn, decision, envelope)
        if decision.changed and isinstance(event, (InstallStarted, InstallSucceeded,
                                                   InstallFailed)):
            await self._audit_install(conn, update, event)

    async def _audit_install(self, conn: AsyncConnection, update: Update,
                             event: InstallStarted | InstallSucceeded | InstallFailed) -> None:
        """A7: every install in the audit log."""
        where = {"site_id": update.site_id, "update_id": update.update_id}
        match event:
            case InstallStarted():
                await self.ctx.audit(conn, "installer-agent", "install.started",
                                     version=update.to_version, **where)
            case InstallSucceeded():
                await self.ctx.audit(conn, "installer-agent", "install.succeeded",
                                     installed_version=event.installed_version,
                                     duration_s=event.duration_s, **where)
            case InstallFailed():
                await self.ctx.audit(conn, "installer-agent", "install.failed",
                                     outcome=f"failed: {event.reason}",
                                     exit_code=event.exit_code, interrupted=event.interrupted,
                                     stage=event.stage, **where)

    # --- the save step ------------------------------------------------------------------

    async def _carry_out(self, conn: AsyncConnection, decision: Decision,
                         cause: Envelope | None, actor: str = "") -> Update:
        """Save the state (version-checked), apply the effects to our own tables and add
        the messages to the outbox, all in the caller's transaction."""
        ctx = self.ctx
        update = decision.state
        if not decision.changed:
            return update
        if update.version:  # a new update was inserted by ``open``
            update = await ctx.updates.save(conn, update)
        messages: list[Message] = list(decision.messages)
        for effect in decision.effects:
            match effect:
                case ResetDeviceFlags():
                    await ctx.devices.reset_flags(conn, update.site_id, effect.update_id)
                case MarkNotificationsPending():
                    await ctx.devices.mark_pending(conn, update.site_id, update.update_id,
                                                   effect.kind, effect.serials)
                case SetProductVersion():
                    await ctx.sites.set_product_version(conn, update.site_id, effect.product,
                                                        effect.version)
                case UnlockRelease():
                    await ctx.releases.unlock(conn, update.site_id, effect.product,
                                              effect.version, actor, ctx.clock())
                case PublishSiteConfiguration():
                    site = await ctx.sites.get(conn, update.site_id)
                    if site is not None:
                        messages.append(site_configured(site))
        await ctx.publish(conn, messages, cause=cause, correlation_id=update.update_id)
        return update


def site_configured(site: Site) -> SiteConfigured:
    return SiteConfigured(
        site_id=site.site_id, name=site.name, license_key=site.license_key,
        enrolment_code_sha256=site.enrolment_code_sha256,
        check_interval_s=site.check_interval_s,
        products=tuple(ProductVersion(product=p, version=v) for p, v in site.products.items()),
    )


def _listed(serials: tuple[str, ...] | None) -> list[str] | None:
    return None if serials is None else list(serials)


def _audit_details(update: Update, action: str) -> dict[str, Any]:
    if action == "update.force_approval":
        return {"authorized_by": list(update.authorized_by), "forced": update.forced}
    if action == "update.server_update":
        return {"authorized_by": list(update.authorized_by)}
    if action == "update.force_request":
        return {"requested_by": update.force_requested_by}
    return {}


def _fixed(command: Command) -> BuildCommand:
    async def build(_conn: AsyncConnection, _update: Update) -> Command:
        return command

    return build
