// Devices asking to join (D14, issue 15 §4): an unknown serial whose hawkBit agent presented
// the site's GatewayToken is never registered by itself. The site admin approves it — with its
// model and installed version, and it becomes a DDI device of the site — or dismisses it.
// A section of the device management window, shown while there are requests; audited.
import { api } from "./api.js";
import { confirmDialog, errorDialog } from "./dialogs.js";
import { clear, h, when } from "./dom.js";
import { t } from "./i18n.js";

// The section: filled from the admin API; `changed` redraws the whole window after an approval,
// and again once the live page has the new device (it joins the management grid).
export function ddiJoinRequestsSection(ctx, changed) {
  const section = h("section", { class: "ddi-join", id: "ddi-join-requests",
                                 "aria-labelledby": "ddi-join-title" });
  fill(section, ctx, changed).catch(errorDialog);
  return section;
}

async function fill(section, ctx, changed) {
  const answer = await api("GET", `/sites/${ctx.siteId}/ddi-join-requests`);
  const requests = answer.requests || [];
  clear(section);
  if (!requests.length) return;
  const path = (serial) => `/sites/${ctx.siteId}/ddi-join-requests/${encodeURIComponent(serial)}`;
  const rows = requests.map((r) => {
    const model = h("input", { class: "ddi-join-model", maxlength: 100,
                               "aria-label": t("ddi_join.model", { serial: r.serial }) });
    const version = h("input", { class: "ddi-join-version", maxlength: 64,
                                 "aria-label": t("ddi_join.version", { serial: r.serial }) });
    const approve = async () => {
      try {
        await api("POST", `${path(r.serial)}/approval`,
                  { model: model.value.trim(), app_version: version.value.trim() });
      } catch (error) { await errorDialog(error); return; }
      changed();
      // the device reaches the site's lists once its registration is projected: redraw then
      const stop = ctx.onRefresh(() => {
        const grid = ctx.state && ctx.state.grid;
        if (grid && grid.devices.some((d) => d.serial === r.serial)) { stop(); changed(); }
      });
    };
    const dismiss = async () => {
      const yes = await confirmDialog({ title: t("ddi_join.dismiss_title"), name: "ddi-dismiss",
                                        message: t("ddi_join.dismiss_message",
                                                   { serial: r.serial }) });
      if (!yes) return;
      try { await api("DELETE", path(r.serial)); } catch (error) { await errorDialog(error); }
      fill(section, ctx, changed).catch(errorDialog);
    };
    return h("tr", { "data-serial": r.serial },
      h("td", {}, r.serial), h("td", {}, when(r.first_seen_at)), h("td", {}, when(r.last_seen_at)),
      h("td", {}, model), h("td", {}, version),
      h("td", {}, h("button", { class: "ddi-join-approve", onclick: approve },
                    t("ddi_join.approve")), " ",
        h("button", { class: "ddi-join-dismiss", onclick: dismiss }, t("ddi_join.dismiss"))));
  });
  section.append(
    h("h3", { id: "ddi-join-title" }, t("ddi_join.title")),
    h("p", { class: "note" }, t("ddi_join.intro")),
    h("div", { class: "grid-wrap" }, h("table", { class: "grid", id: "ddi-join-grid" },
      h("thead", {}, h("tr", {}, ["grid.serial", "ddi_join.first_seen", "ddi_join.last_seen",
        "ddi_models.model", "grid.installed_version", ""].map((k) => h("th", {}, k ? t(k) : "")))),
      h("tbody", {}, rows))));
}
