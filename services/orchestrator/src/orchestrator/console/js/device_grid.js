// U3/U9: the grid of the site's enabled devices, an ARIA grid: arrow keys move between rows,
// Space or Enter selects one (every per-device action works from the keyboard). Each device has
// a status saying what it is doing now and whether it needs the admin ("needs attention":
// highlighted, sorted first, and a filter of its own); red only for what needs the admin.
// Columns have a priority: on a tablet the low ones give way and the selected device's detail
// drawer shows everything.
import { clear, h, since, when } from "./dom.js";
import { t, translated } from "./i18n.js";

const flag = (on) => h("span", { class: on ? "tick" : "cross", role: "img",
                                 "aria-label": t(on ? "common.yes" : "common.no") },
                       on ? "✔" : "–");
let focusedSerial = null;

function operator(device) {
  return [device.operator_code, device.operator_name].filter(Boolean).join(" ") || "—";
}

// what the device is doing in this step of the update, and whether the admin must act
export function deviceStatus(d, view) {
  const { phase, started, released } = view;
  const notReached = d.notification_outcome === "not_delivered";
  if (phase === 1) {
    if (d.waiting_for_update) return { code: "waiting", tone: "ok" };
    if (!d.notifications_enabled && !d.blocked) return { code: "notifications_off", tone: "attention" };
    if (notReached) return { code: "not_reached", tone: "attention" };
    if (!started) return { code: "working", tone: "neutral" };
    if (d.notification_outcome === "pending") return { code: "pending", tone: "neutral" };
    return { code: d.blocked ? "handing_in" : "not_blocked", tone: d.blocked ? "neutral" : "attention" };
  }
  if (phase === 2) return d.waiting_for_update ? { code: "waiting", tone: "ok" }
    : { code: "not_waiting", tone: "attention" };
  if (phase === 3) {
    if (d.on_target_version) return { code: "updated", tone: "ok" };
    if (!released) return { code: "awaiting_release", tone: "neutral" };
    if (notReached) return { code: "not_reached_end", tone: "attention" };
    return { code: "updating", tone: "neutral" };
  }
  if (phase === 0) return d.blocked ? { code: "still_blocked", tone: "attention" }
    : { code: "working", tone: "ok" };
  return d.blocked ? { code: "still_blocked", tone: "attention" }
    : { code: "working", tone: "neutral" };
}

export const needsAttention = (d, view) => deviceStatus(d, view).tone === "attention";

export function noteText(device) {
  const parts = [];
  if (device.notification_outcome === "not_delivered") {
    parts.push(device.notifications_enabled
      ? t("grid.not_delivered", { reason: translated("grid.reason", device.notification_note) })
      : t(device.notification_kind === "start" ? "grid.notifications_off_advice"
        : "grid.notifications_off_restart"));
  } else if (device.notification_outcome === "pending") {
    parts.push(t("grid.pending"));
  }
  if (device.notes) parts.push(translated("grid.note", device.notes));
  return parts.join(" · ");
}

export function renderFilters(el, filter, onFilter, { phase3 }) {
  clear(el).setAttribute("role", "radiogroup");
  el.setAttribute("aria-label", t("grid.filter.label"));
  const values = phase3 ? ["all", "attention", "updated", "not_updated"] : ["all", "attention"];
  for (const value of values) {
    el.append(h("label", {},
      h("input", { type: "radio", name: "grid-filter", value, checked: value === filter,
                   onchange: () => onFilter(value) }),
      t(`grid.filter.${value}`)));
  }
}

// [key, label, priority]: 1 always shown, 2 hidden below 900 px, 3 below 1100 px
function columnsFor(phase) {
  const columns = [
    ["serial", "grid.serial", 1], ["status", "grid.status", 1],
    ["model", "grid.model", 3], ["operator", "grid.operator", 2], ["phone", "grid.phone", 3],
    ["last_contact", "grid.connection", 1], ["last_sync", "grid.last_sync", 3],
    ["notifications", "grid.notifications_enabled", 3],
    ["sent", "grid.notification_sent", 3], ["blocked", "grid.blocked", 2],
    ["waiting", "grid.waiting", 2],
  ];
  if (phase === 3) columns.push(["version", "grid.installed_version", 1]);
  columns.push(["staged", "grid.package_staged", 3], ["notes", "grid.notes", 1]);
  return columns;
}

// U3: online now (it polled the gateway lately) or when it was last heard from; an offline
// device never looks like an online one (its own mark and colour, before and after START)
export function connection(d) {
  const online = Boolean(d.online);
  return h("span", { class: `connection connection--${online ? "online" : "offline"}`,
                     "data-online": String(online), title: when(d.last_contact) },
    h("span", { class: "connection-dot", "aria-hidden": "true" }, online ? "●" : "○"), " ",
    online ? t("grid.online_now")
      : d.last_contact ? t("grid.last_seen", { when: since(d.last_contact) })
        : t("grid.never_seen"));
}

function cellsOf(d, status) {
  return {
    serial: d.serial, operator: operator(d), phone: d.operator_phone || "—",
    model: d.agent === "ddi"
      ? [d.model, " ", h("span", { class: "badge ddi", title: t("grid.ddi_title") }, "DDI")]
      : d.model,
    status: h("span", { class: `status status--${status.tone}`, "data-status": status.code },
      t(`grid.status.${status.code}`)),
    last_contact: connection(d),
    last_sync: when(d.last_sync), notifications: flag(d.notifications_enabled),
    sent: flag(d.notification_sent), blocked: flag(d.blocked),
    waiting: d.ddi_waiting
      ? [flag(d.waiting_for_update), " ", h("small", { class: "ddi-waiting" },
        t(`grid.ddi_waiting.${d.ddi_waiting}`))]
      : flag(d.waiting_for_update),
    version: d.app_version, notes: noteText(d), staged: flag(Boolean(d.package_staged)),
  };
}

export function shownDevices(grid, view, filter) {
  const lines = grid.devices.map((d) => ({ d, status: deviceStatus(d, view) }));
  const attention = (line) => (line.status.tone === "attention" ? 0 : 1);
  return lines.filter((line) => filter !== "attention" || attention(line) === 0)
    .sort((a, b) => attention(a) - attention(b) || a.d.serial.localeCompare(b.d.serial));
}

function moveFocus(tbody, row, onSelect, event) {
  const rows = [...tbody.querySelectorAll("tr[data-serial]")];
  const at = rows.indexOf(row);
  const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: rows.length - 1 }[event.key];
  if (to !== undefined) {
    event.preventDefault();
    const next = rows[Math.max(0, Math.min(rows.length - 1, to))];
    if (next) {
      rows.forEach((r) => r.setAttribute("tabindex", "-1"));
      next.setAttribute("tabindex", "0");
      focusedSerial = next.dataset.serial;
      next.focus();
    }
  } else if (event.key === " " || event.key === "Enter") {
    event.preventDefault();
    focusedSerial = row.dataset.serial;
    onSelect(row.dataset.serial);
  }
}

export function renderGrid(container, grid, { view, filter, selected, onSelect }) {
  const columns = columnsFor(view.phase);
  const lines = shownDevices(grid, view, filter);
  const hadFocus = container.contains(document.activeElement);
  const toggle = (serial) => onSelect(serial === selected ? null : serial);
  const rovingSerial = [focusedSerial, selected].find((s) => lines.some((l) => l.d.serial === s))
    || (lines[0] && lines[0].d.serial);
  const rows = lines.map(({ d, status }) => {
    const cells = cellsOf(d, status);
    return h("tr", {
      class: [status.tone === "attention" ? "attention" : "",
              d.serial === selected ? "selected" : ""].filter(Boolean).join(" "),
      "data-serial": d.serial, "data-attention": String(status.tone === "attention"),
      "aria-selected": String(d.serial === selected),
      tabindex: d.serial === rovingSerial ? "0" : "-1",
      onclick: () => { focusedSerial = d.serial; toggle(d.serial); },
      onkeydown: (event) => moveFocus(event.currentTarget.parentElement, event.currentTarget,
                                      toggle, event),
    }, columns.map(([key, , priority]) => h("td", {
      class: ["notifications", "sent", "blocked", "waiting", "staged"].includes(key)
        ? "flag" : "",
      "data-column": key, "data-priority": priority,
    }, cells[key])));
  });
  const table = h("table", { class: "grid", id: "device-grid", role: "grid",
                             "aria-label": t("grid.label"), "aria-rowcount": rows.length + 1 },
    h("thead", {}, h("tr", {}, columns.map(([key, label, priority]) =>
      h("th", { "data-column": key, "data-priority": priority, scope: "col" }, t(label))))),
    h("tbody", {}, rows.length ? rows
      : h("tr", {}, h("td", { colspan: columns.length, class: "note" },
        t(filter === "attention" ? "grid.none_need_attention" : "grid.empty")))));
  clear(container).append(table);
  fitColumns(container, table);
  if (hadFocus) {
    const row = table.querySelector(`tr[tabindex="0"]`);
    if (row) row.focus();
  }
}

// the low-priority columns give way while the table is wider than its box (a tablet, long
// Russian headers): the priority-1 columns (status, notes…) always stay on screen
function fitColumns(wrap, table) {
  wrap.dataset.hide = "";
  for (const level of ["3", "2"]) {
    if (table.scrollWidth <= wrap.clientWidth) break;
    wrap.dataset.hide = level;
  }
  const hint = wrap.parentElement && wrap.parentElement.querySelector(".narrow-hint");
  if (hint) hint.hidden = !wrap.dataset.hide;
}

window.addEventListener("resize", () => {
  const table = document.getElementById("device-grid");
  if (table) fitColumns(table.parentElement, table);
});

// the selected device, every field of its row (on a tablet most columns are hidden)
export function renderDetail(container, grid, view, serial) {
  const d = serial && grid && grid.devices.find((x) => x.serial === serial);
  clear(container).hidden = !d;
  if (!d) return;
  const status = deviceStatus(d, view);
  const cells = cellsOf(d, status);
  const fields = columnsFor(view.phase).filter(([key]) => key !== "serial");
  container.append(
    h("h3", { id: "device-detail-title" }, t("grid.detail_title", { serial: d.serial })),
    h("dl", {}, fields.flatMap(([key, label]) => [h("dt", {}, t(label)),
      h("dd", { "data-field": key }, cells[key] === "" ? "—" : cells[key])])));
}
