// U7: "Force update" when some devices are not waiting — a double authorization: one admin
// requests, a second admin approves from his console; on a site with a single admin, the same
// admin confirms again by re-entering his password (recorded as such).
import { api } from "./api.js";
import { confirmDialog, errorDialog, openDialog } from "./dialogs.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";

export function forceRequester(update) {
  if (!update) return null;
  if (update.force_request && update.force_request.requested_by) {
    return update.force_request.requested_by;
  }
  return update.force_requested_by || null;
}

async function confirmForceAndStart(update) {
  const notWaiting = update.fleet.enabled - update.fleet.waiting;
  const force = await confirmDialog({
    title: t("force.title"), name: "force-warning", danger: true,
    message: t("force.warning", { n: notWaiting }), yes: t("force.force"), no: t("common.cancel"),
  });
  if (!force) return false;
  return confirmDialog({
    title: t("start.title"), name: "force-start", message: t("start.message_forced"),
    yes: t("start.start"), no: t("common.cancel"),
  });
}

async function approveWithPassword(ctx, update) {
  const password = h("input", { id: "force-password", type: "password",
                                autocomplete: "current-password" });
  const error = h("p", { class: "error", role: "alert" });
  const requested = h("p", {}, t("force.requested", { user: ctx.session.username }));
  if (update.site_admins > 1) {  // U7: the password is only for a site's single admin
    await openDialog({ title: t("force.requested_title"), name: "force-second",
                       body: [requested, h("p", {}, t("force.second_admin_needed"))],
                       buttons: [{ label: t("force.wait_for_second"), value: "wait" }] });
    return false;
  }
  const choice = await openDialog({
    title: t("force.requested_title"), name: "force-second",
    body: [requested, h("p", {}, t("force.single_admin")),
           h("label", { class: "code-row" }, h("span", {}, t("login.password")), password),
           error],
    buttons: [
      { label: t("force.wait_for_second"), value: "wait" },
      { label: t("force.confirm_password"), value: "password", class: "danger",
        check: async () => {
          try {
            await api("POST", `/updates/${update.update_id}/force-approvals`,
                      { password: password.value });
            return true;
          } catch (e) {
            error.textContent = e.message;
            return false;
          }
        } },
    ],
  });
  return choice === "password";
}

export async function forceUpdate(ctx) {
  const update = ctx.state.update;
  const requester = forceRequester(update);
  try {
    if (requester && requester !== ctx.session.username) {
      // the second admin approves the first admin's request
      const ok = await confirmDialog({
        title: t("force.approve_title"), name: "force-approve", danger: true,
        message: t("force.approve", { user: requester,
                                      n: update.fleet.enabled - update.fleet.waiting }),
        yes: t("force.approve_button"), no: t("common.cancel"),
      });
      if (!ok) return;
      await api("POST", `/updates/${update.update_id}/force-approvals`, {});
    } else {
      if (!requester) {
        if (!(await confirmForceAndStart(update))) return;
        await api("POST", `/updates/${update.update_id}/force-requests`, {});
      }
      await approveWithPassword(ctx, update);
    }
  } catch (error) {
    await errorDialog(error);
  } finally {
    ctx.refresh();
  }
}
