// Device management (U10, U12, D8): every device of the site, disabled ones too, with its
// installed version; enable, disable, block / unblock by codes outside the update window, and
// approve the re-registration of a device that lost its secret (app reinstalled); below, the
// hawkBit agents asking to join (ddi_join_requests.js) and the DDI device models' waiting rule
// (ddi_models.js).
import { api } from "./api.js";
import { confirmDialog, errorDialog, messageDialog } from "./dialogs.js";
import { connection } from "./device_grid.js";
import { clear, h, when } from "./dom.js";
import { t } from "./i18n.js";
import { manualCodes } from "./manual_codes.js";
import { ddiJoinRequestsSection } from "./ddi_join_requests.js";
import { ddiModelsSection } from "./ddi_models.js";
import { canManage } from "./session.js";
import { disableDevice } from "./update_actions.js";

let chosen = null;

export async function renderDeviceManagement(el, ctx) {
  const answer = await api("GET", `/sites/${ctx.siteId}/device-management`);
  const devices = answer.devices || answer;
  const manage = canManage(ctx.session);
  const rerender = () => renderDeviceManagement(el, ctx).catch(errorDialog);
  const enable = async () => {
    try {
      await api("POST", `/sites/${ctx.siteId}/devices/${encodeURIComponent(chosen)}/enable`, {});
    } catch (error) { await errorDialog(error); }
    rerender();
  };
  const approve = async () => {
    const serial = chosen;
    const yes = await confirmDialog({ title: t("devices.reregistration.title"),
      name: "approve-reregistration", message: t("devices.reregistration.message", { serial }) });
    if (!yes) return;
    try {
      await api("POST",
        `/sites/${ctx.siteId}/devices/${encodeURIComponent(serial)}/reregistration-approval`, {});
      await messageDialog({ title: t("devices.reregistration.title"), name: "reregistration-approved",
        message: t("devices.reregistration.done", { serial }) });
    } catch (error) { await errorDialog(error); }
  };
  const current = devices.find((d) => d.serial === chosen);
  const toolbar = manage ? h("div", { class: "toolbar" },
    h("button", { id: "dm-enable", disabled: !current || current.enabled, onclick: enable },
      t("devices.enable")),
    h("button", { id: "dm-disable", disabled: !current || !current.enabled,
                  onclick: async () => { await disableDevice(ctx, chosen); rerender(); } },
      t("action.disable")),
    h("button", { id: "dm-block", disabled: !current || !current.enabled,
                  onclick: async () => { await manualCodes(ctx, chosen, "block"); rerender(); } },
      t("action.manual_block")),
    h("button", { id: "dm-unblock", disabled: !current || !current.enabled,
                  onclick: async () => { await manualCodes(ctx, chosen, "unblock");
                                         rerender(); } },
      t("action.unblock")),
    h("button", { id: "dm-reregistration", disabled: !current || !current.enabled,
                  onclick: approve },
      t("devices.reregistration.button"))) : null;
  const rows = devices.map((d) => h("tr", {
    class: d.serial === chosen ? "selected" : "", "data-serial": d.serial,
    onclick: () => { chosen = d.serial === chosen ? null : d.serial; rerender(); },
  },
  h("td", {}, d.serial), h("td", {}, d.model || "—"),
  h("td", {}, [d.operator_code, d.operator_name].filter(Boolean).join(" ") || "—"),
  h("td", {}, d.app_version || "—"), h("td", { "data-column": "last_contact" }, connection(d)),
  h("td", {}, when(d.last_sync)),
  h("td", { class: "flag", "data-column": "enabled" },
    d.enabled ? h("span", { class: "tick" }, "✔") : h("span", { class: "cross" }, "✕")),
  h("td", { class: "flag" }, d.blocked ? "✔" : "–")));
  clear(el).append(
    h("div", { class: "window-title" }, t("devices.title")),
    h("div", { class: "window-body" }, toolbar,
      h("div", { class: "grid-wrap", tabindex: 0, role: "region",
                    "aria-label": t("devices.title") }, h("table", { class: "grid", id: "management-grid" },
        h("thead", {}, h("tr", {}, ["grid.serial", "grid.model", "grid.operator",
          "grid.installed_version", "grid.connection", "grid.last_sync", "devices.enabled",
          "grid.blocked"]
          .map((k) => h("th", {}, t(k))))),
        h("tbody", {}, rows))),
      manage ? ddiJoinRequestsSection(ctx, rerender) : null,
      manage ? ddiModelsSection(ctx) : null));
}
