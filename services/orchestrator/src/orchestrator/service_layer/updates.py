"""Handlers of the update saga. Always the same four steps: load, decide (pure), save the new
state and the outbox rows in ONE transaction, commit (then wake the relay). A lost
optimistic-concurrency race (``ConcurrentUpdate``) runs the whole handler again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from lockstep_shared.catalogue import Message, ProductVersion, SiteConfigured
from lockstep_shared.envelope import Envelope
from lockstep_shared.inbox import ConcurrentUpdate
from sqlalchemy.ext.asyncio import AsyncConnection

from orchestrator.adapters.sites_repository import Site
from orchestrator.adapters.updates_repository import ActiveUpdateExists
from orchestrator.domain.commands import (
    Cancel,
    Command,
    Conclude,
    OpenUpdate,
    ReactivateDevices,
    SendEnd,
    SendStart,
    StartServerUpdate,
)
from orchestrator.domain.model import NotAllowed, Update
from orchestrator.domain.saga import (
    Decision,
    InstallerEvent,
    MarkNotificationsPending,
    PublishSiteConfiguration,
    ResetDeviceFlags,
    SetProductVersion,
    decide,
    open_update,
)
from orchestrator.service_layer.context import Context, NotFound

ATTEMPTS = 5
BuildCommand = Callable[[AsyncConnection, Update], Awaitable[Command]]


class UpdateHandlers:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- admin commands -----------------------------------------------------------------

    async def open(self, site_id: str, product: str, backups_confirmed: bool,
                   actor: str) -> Update:
        ctx = self.ctx
        command = OpenUpdate(update_id=ctx.ids(), site_id=site_id, product=product,
                             backups_confirmed=backups_confirmed, actor=actor)
        try:
            async with ctx.engine.begin() as conn:
                site = await ctx.sites.get(conn, site_id)
                if site is None:
                    raise NotFound(f"unknown site {site_id!r}")
                decision = open_update(
                    command,
                    active=await ctx.updates.active_for_site(conn, site_id),
                    release=await ctx.releases.get(conn, site_id, product),
                    installed_version=site.products.get(product),
                    now=ctx.clock(),
                )
                update = await ctx.updates.add(conn, decision.state)
                await self._carry_out(conn, decision, None)
        except ActiveUpdateExists:
            raise NotAllowed(
                f"another update was opened at site {site_id} at the same moment: only one "
                "update per site; reload to see it"
            ) from None
        ctx.outbox.committed()
        return update

    async def send_start(self, update_id: str, serials: tuple[str, ...] | None,
                         actor: str) -> tuple[Update, str]:
        request_id = self.ctx.ids()
        update = await self._run(update_id, _fixed(SendStart(request_id, actor, serials)))
        return update, request_id

    async def start_server_update(self, update_id: str, actor: str) -> Update:
        async def build(conn: AsyncConnection, update: Update) -> Command:
            waiting = await self.ctx.devices.waiting_serials(conn, update.site_id)
            return StartServerUpdate(actor, waiting)

        return await self._run(update_id, build, needs_fleet=True)

    async def send_end(self, update_id: str, serials: tuple[str, ...] | None,
                       actor: str) -> tuple[Update, str]:
        request_id = self.ctx.ids()
        update = await self._run(update_id, _fixed(SendEnd(request_id, actor, serials)))
        return update, request_id

    async def conclude(self, update_id: str, confirm_not_updated: bool, actor: str) -> Update:
        return await self._run(update_id, _fixed(Conclude(actor, confirm_not_updated)),
                               needs_fleet=True)

    async def cancel(self, update_id: str, actor: str) -> Update:
        return await self._run(update_id, _fixed(Cancel(actor)))

    async def reactivate_devices(self, update_id: str, actor: str) -> Update:
        return await self._run(update_id, _fixed(ReactivateDevices(self.ctx.ids(), actor)))

    async def _run(self, update_id: str, build: BuildCommand, *,
                   needs_fleet: bool = False) -> Update:
        ctx = self.ctx
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with ctx.engine.begin() as conn:
                    update = await ctx.updates.get(conn, update_id)
                    if update is None:
                        raise NotFound(f"unknown update {update_id!r}")
                    fleet = (await ctx.devices.fleet_summary(conn, update.site_id,
                                                             update.to_version)
                             if needs_fleet else None)
                    command = await build(conn, update)
                    decision = decide(update, command, ctx.clock(), fleet)
                    saved = await self._carry_out(conn, decision, None)
            except ConcurrentUpdate:
                if attempt == ATTEMPTS:
                    raise NotAllowed(f"update {update_id} is being changed by someone else "
                                     "right now; reload and try again") from None
                continue
            ctx.outbox.committed()
            return saved
        raise AssertionError("unreachable")

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

    # --- the save step ------------------------------------------------------------------

    async def _carry_out(self, conn: AsyncConnection, decision: Decision,
                         cause: Envelope | None) -> Update:
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


def _fixed(command: Command) -> BuildCommand:
    async def build(_conn: AsyncConnection, _update: Update) -> Command:
        return command

    return build
