// U3/U9: the grid of the site's enabled devices. Phase 3 adds the installed version, marks the
// devices not on the new version red, and offers the filters all / updated / not updated.
import { clear, h, when } from "./dom.js";
import { t } from "./i18n.js";

const flag = (on) => h("span", { class: on ? "tick" : "cross" }, on ? "✔" : "–");

function operator(device) {
  return [device.operator_code, device.operator_name].filter(Boolean).join(" ") || "—";
}

function notes(device) {
  const parts = [];
  if (device.notification_outcome === "not_delivered") {
    parts.push(t("grid.not_delivered", { reason: device.notification_note || "" }));
  } else if (device.notification_outcome === "pending") {
    parts.push(t("grid.pending"));
  }
  if (device.notes) parts.push(device.notes);
  return parts.join(" · ");
}

export function renderFilters(el, filter, onFilter) {
  clear(el);
  for (const value of ["all", "updated", "not_updated"]) {
    el.append(h("label", {},
      h("input", { type: "radio", name: "grid-filter", value, checked: value === filter,
                   onchange: () => onFilter(value) }),
      t(`grid.filter.${value}`)));
  }
}

export function renderGrid(container, grid, { phase3, selected, onSelect }) {
  const columns = [
    ["serial", t("grid.serial")], ["model", t("grid.model")], ["operator", t("grid.operator")],
    ["phone", t("grid.phone")], ["last_sync", t("grid.last_sync")],
    ["notifications", t("grid.notifications_enabled")],
    ["sent", t("grid.notification_sent")], ["blocked", t("grid.blocked")],
    ["waiting", t("grid.waiting")],
  ];
  if (phase3) columns.push(["version", t("grid.installed_version")]);
  columns.push(["staged", t("grid.package_staged")], ["notes", t("grid.notes")]);

  const rows = grid.devices.map((d) => {
    const late = phase3 && d.on_target_version === false;
    const cells = {
      serial: d.serial, model: d.model, operator: operator(d), phone: d.operator_phone || "—",
      last_sync: when(d.last_sync), notifications: flag(d.notifications_enabled),
      sent: flag(d.notification_sent), blocked: flag(d.blocked),
      waiting: flag(d.waiting_for_update), version: d.app_version, notes: notes(d),
      staged: flag(Boolean(d.package_staged)),
    };
    const classes = [late ? "late" : "", d.serial === selected ? "selected" : ""];
    return h("tr", {
      class: classes.filter(Boolean).join(" "), "data-serial": d.serial,
      "data-late": late ? "true" : "false",
      onclick: () => onSelect(d.serial === selected ? null : d.serial),
    }, columns.map(([key]) => h("td", {
      class: ["notifications", "sent", "blocked", "waiting", "staged"].includes(key)
        ? "flag" : "",
      "data-column": key,
    }, cells[key])));
  });
  const table = h("table", { class: "grid", id: "device-grid" },
    h("thead", {}, h("tr", {}, columns.map(([key, label]) =>
      h("th", { "data-column": key }, label)))),
    h("tbody", {}, rows.length ? rows
      : h("tr", {}, h("td", { colspan: columns.length, class: "note" }, t("grid.empty")))));
  clear(container).append(table);
}
