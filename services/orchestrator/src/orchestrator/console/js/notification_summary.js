// U4/U9/U12: after START / END / ERROR UPDATE, the outcome for each device it went to:
// delivered, not delivered and why (with what to do), or still waiting for the device.
import { api } from "./api.js";
import { liveDialog } from "./dialogs.js";
import { clear, h } from "./dom.js";
import { t } from "./i18n.js";

function who(device) {
  return device.operator_name || device.operator_code || device.serial;
}

function line(kind, device) {
  const vars = { operator: who(device), serial: device.serial,
                 reason: device.notification_note || t("summary.no_reason") };
  const sent = device.notification_kind === kind;
  const outcome = sent ? device.notification_outcome : "pending";
  if (outcome === "delivered") {
    return h("li", { class: "ok", "data-outcome": "delivered", "data-serial": device.serial },
      t(`summary.${kind}.delivered`, vars));
  }
  if (outcome === "not_delivered") {
    return h("li", { class: "failed", "data-outcome": "not_delivered",
                     "data-serial": device.serial },
      t(`summary.${kind}.not_delivered`, vars),
      kind === "start" ? h("ol", { class: "steps", type: "a" },
        h("li", {}, t("summary.start.advice_not_started")),
        h("li", {}, t("summary.start.advice_manual_block"))) : null);
  }
  return h("li", { "data-outcome": "pending", "data-serial": device.serial },
    t("summary.pending", vars));
}

// Shows the summary and keeps it current (re-read on every site change) until closed.
export function showOutcomes(ctx, kind, serials) {
  const { body, closed } = liveDialog({ title: t(`summary.${kind}.title`),
                                        name: `summary-${kind}` });
  const render = async () => {
    const grid = await api("GET", `/sites/${ctx.siteId}/devices?filter=all`);
    const wanted = serials ? new Set(serials) : null;
    const devices = grid.devices.filter((d) => !wanted || wanted.has(d.serial));
    const counts = { delivered: 0, not_delivered: 0, pending: 0 };
    const items = devices.map((d) => {
      const item = line(kind, d);
      counts[item.dataset.outcome] += 1;
      return item;
    });
    clear(body).append(
      h("p", { class: "summary-counts" }, t("summary.counts", counts)),
      h("ul", { class: "summary-list" }, items));
  };
  const stop = ctx.onRefresh(() => render().catch(() => {}));
  render().catch(() => {});
  closed.then(stop);
  return closed;
}
