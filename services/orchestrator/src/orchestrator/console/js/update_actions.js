// Every action of the "Manage update" window, each with the confirmations the procedure asks.
import { api } from "./api.js";
import { confirmDialog, errorDialog, messageDialog } from "./dialogs.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { showOutcomes } from "./notification_summary.js";

async function attempt(ctx, action) {
  try {
    return await action();
  } catch (error) {
    await errorDialog(error);
    return null;
  } finally {
    ctx.refresh();
  }
}

// U2: the backup warning, then phase 1 opens (or the confirmation-code window, U13)
export async function openUpdate(ctx) {
  const banner = ctx.state.banner;
  const yes = await confirmDialog({
    title: t("backup.title"), name: "backup-warning", message: t("backup.question"),
    extra: [h("ul", {}, h("li", {}, t("backup.machine")), h("li", {}, t("backup.database"))),
            h("p", { class: "note" }, t("backup.may_take"))],
  });
  if (!yes) return;
  const update = await attempt(ctx, () => api("POST", `/sites/${ctx.siteId}/updates`,
    { product: banner.product, backups_confirmed: true }));
  if (update && update.challenge) {
    ctx.state.challenge = { update_id: update.update_id, value: update.challenge };
  }
  ctx.showTab("update");
}

export async function cancelUpdate(ctx) {
  const yes = await confirmDialog({ title: t("cancel.title"), name: "cancel-update",
                                    message: t("cancel.message") });
  if (yes) await attempt(ctx, () => api("POST", `/updates/${ctx.state.update.update_id}/cancellation`));
}

function target(ctx, one) {
  return one ? [ctx.state.selected] : null;
}

// U4: START UPDATE to every enabled device, or again to the selected one
export async function sendStart(ctx, one) {
  const serials = target(ctx, one);
  const yes = await confirmDialog({
    title: t("start_push.title"), name: "confirm-start-push",
    message: one ? t("start_push.one", { serial: serials[0] }) : t("start_push.all",
      { n: ctx.state.update.fleet.enabled }),
  });
  if (!yes) return;
  const sent = await attempt(ctx, () => api("POST",
    `/updates/${ctx.state.update.update_id}/start-notifications`, { serials }));
  if (sent) await showOutcomes(ctx, "start", serials);
}

// U6: phase 2 when every enabled device is waiting
export async function startServerUpdate(ctx) {
  const yes = await confirmDialog({ title: t("start.title"), name: "confirm-start",
                                    message: t("start.message"), yes: t("start.start"),
                                    no: t("common.cancel") });
  if (yes) await attempt(ctx, () => api("POST", `/updates/${ctx.state.update.update_id}/server-update`, {}));
}

// U9: "Finish update" — END UPDATE to all (the first time releases the devices), or to one
export async function sendEnd(ctx, one) {
  const serials = target(ctx, one);
  const sent = await attempt(ctx, () => api("POST",
    `/updates/${ctx.state.update.update_id}/end-notifications`, { serials }));
  if (sent) await showOutcomes(ctx, "end", serials);
}

// U11: conclude; with devices not on the new version a warning, then a second confirmation
export async function conclude(ctx) {
  const update = ctx.state.update;
  const late = update.fleet.enabled - update.fleet.on_target;
  if (late > 0) {
    const ok = await confirmDialog({ title: t("conclude.warning_title"), name: "conclude-warning",
      message: t("conclude.warning", { n: late, version: update.to_version }),
      yes: t("common.ok"), no: t("common.cancel") });
    if (!ok) return;
  }
  const sure = await confirmDialog({ title: t("conclude.title"), name: "conclude-confirm",
    message: t("conclude.message"), yes: t("common.ok"), no: t("common.cancel") });
  if (!sure) return;
  const done = await attempt(ctx, () => api("POST", `/updates/${update.update_id}/conclusion`,
    { confirm_not_updated: late > 0 }));
  if (done) await messageDialog({ title: t("conclude.title"), name: "concluded",
                                  message: t("conclude.done", { version: update.to_version }) });
}

// U10: disable the selected device, with a double confirmation
export async function disableDevice(ctx, serial) {
  const first = await confirmDialog({ title: t("disable.title"), name: "disable-1",
    message: t("disable.message", { serial }), danger: true });
  if (!first) return false;
  const second = await confirmDialog({ title: t("disable.title"), name: "disable-2",
    message: t("disable.again", { serial }), yes: t("disable.button"), danger: true });
  if (!second) return false;
  const done = await attempt(ctx, () => api("POST",
    `/sites/${ctx.siteId}/devices/${encodeURIComponent(serial)}/disable`,
    { confirm: true, confirm_again: true }));
  if (done && ctx.state.selected === serial) ctx.state.selected = null;
  return Boolean(done);
}

// D14: a DDI device (SWUpdate, rauc-hawkbit) whose model's rule is "admin" has stopped work:
// the admin counts it blocked and handed in
export async function ddiBlock(ctx, serial) {
  const yes = await confirmDialog({ title: t("ddi_block.title"), name: "confirm-ddi-block",
                                    message: t("ddi_block.message", { serial }) });
  if (!yes) return false;
  return Boolean(await attempt(ctx, () => api("POST",
    `/sites/${ctx.siteId}/devices/${encodeURIComponent(serial)}/ddi-block`, {})));
}

// U12: reactivate every device (ERROR UPDATE pushed, devices unblocked)
export async function reactivateDevices(ctx) {
  const yes = await confirmDialog({ title: t("reactivate.title"), name: "confirm-reactivate",
                                    message: t("reactivate.message") });
  if (!yes) return;
  const done = await attempt(ctx, () => api("POST",
    `/updates/${ctx.state.update.update_id}/error-notifications`, { serials: null }));
  if (done) await showOutcomes(ctx, "error", null);
}

export async function sendSupportReport(ctx) {
  const yes = await confirmDialog({ title: t("report.title"), name: "confirm-report",
                                    message: t("report.message") });
  if (!yes) return;
  const done = await attempt(ctx, () => api("POST",
    `/updates/${ctx.state.update.update_id}/support-report`, {}));
  if (done) ctx.state.reportRequested = ctx.state.update.update_id;
}

export async function resolveFailure(ctx) {
  const yes = await confirmDialog({ title: t("resolve.title"), name: "confirm-resolve",
                                    message: t("resolve.message") });
  if (yes) await attempt(ctx, () => api("POST", `/updates/${ctx.state.update.update_id}/resolution`, {}));
}
