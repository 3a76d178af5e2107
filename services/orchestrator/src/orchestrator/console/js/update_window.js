// The "Manage update" window: its content follows the update — backup warning and opening,
// confirmation code (U13), phase 1 (U3–U7), phase 2 (U8), phase 3 (U9–U11), failure (U12).
// The structure is rebuilt only when the state changes; live data (counts, grid, progress,
// enabled buttons) is patched in place, so typing in a field is never interrupted.
import { apiOrNull } from "./api.js";
import { renderConfirmationCode } from "./confirmation_code.js";
import { renderDetail, renderFilters, renderGrid } from "./device_grid.js";
import { clear, h, when } from "./dom.js";
import { forceRequester, forceUpdate } from "./force_update.js";
import { currentLanguage, t, translated } from "./i18n.js";
import { manualCodes } from "./manual_codes.js";
import { canManage, isSupport } from "./session.js";
import * as act from "./update_actions.js";

const ACTIVE = new Set(["awaiting_code", "open", "notifying", "server_updating",
                        "server_updated", "failed"]);
export const isActive = (update) => Boolean(update && ACTIVE.has(update.state));
let shell = null;

function structureKey(ctx) {
  const u = ctx.state.update;
  return JSON.stringify([ctx.siteId, ctx.session.username, u && u.update_id, u && u.state,
    u && u.devices_released, forceRequester(u), ctx.state.banner && ctx.state.banner.state,
    currentLanguage(), reactivated(ctx)]);
}

// U12: ERROR UPDATE was sent and no device is blocked any more: work can resume
export function reactivated(ctx) {
  const { update, grid } = ctx.state;
  if (!update || update.state !== "failed" || !grid) return false;
  return grid.devices.some((d) => d.notification_kind === "error")
    && update.fleet.blocked === 0;
}

// what the grid's statuses depend on
export function gridView(update) {
  const phase = !update || !isActive(update) ? null
    : { open: 1, notifying: 1, server_updating: 2, server_updated: 3, failed: 0 }[update.state];
  return { phase, started: Boolean(update && update.fleet.notified > 0),
           released: Boolean(update && update.devices_released) };
}

export function renderUpdateWindow(el, ctx) {
  const key = structureKey(ctx);
  if (!shell || shell.key !== key || !el.contains(shell.root)) {
    shell = { key, refreshers: [], root: null };
    clear(el);
    shell.root = build(ctx, shell.refreshers);
    el.append(shell.root);
  }
  for (const refresh of shell.refreshers) refresh();
}

function windowFrame(title, closeButton, ...body) {
  return h("div", { class: "update-window" },
    h("div", { class: "window-title" }, h("span", { id: "window-title" }, title), closeButton),
    ...body);
}

function button(id, label, onclick, { primary, danger, enabled } = {}, refreshers) {
  const b = h("button", { id, class: primary ? "primary" : danger ? "danger" : "", onclick },
    label);
  if (enabled && refreshers) refreshers.push(() => { b.disabled = !enabled(); });
  return b;
}

function build(ctx, refreshers) {
  const update = ctx.state.update;
  const manage = canManage(ctx.session);
  if (!isActive(update)) return noUpdate(ctx, manage, refreshers);
  if (update.state === "awaiting_code") {
    return windowFrame(t("window.code"), null, manage ? renderConfirmationCode(ctx, update)
      : h("div", { class: "window-body" }, h("p", {}, t("code.admin_only"))));
  }
  const phase = { open: 1, notifying: 1, server_updating: 2, server_updated: 3,
                  failed: 0 }[update.state];
  const titles = { 1: t("window.phase1"), 2: t("window.phase2"), 3: t("window.phase3"),
                   0: t("window.failed") };
  const cancellable = manage && update.state === "open" && update.fleet.notified === 0;
  const close = cancellable ? h("button", { id: "cancel-update", title: t("cancel.title"),
                                            onclick: () => act.cancelUpdate(ctx) }, "✕") : null;
  const selected = () => Boolean(ctx.state.selected);
  const selectedDdi = () => Boolean(ctx.state.selected && ctx.state.grid
    && ctx.state.grid.devices.some((d) => d.serial === ctx.state.selected && d.agent === "ddi"));
  const fleet = () => ctx.state.update.fleet;
  const body = h("div", { class: "window-body" });
  body.append(h("div", {}, h("span", { class: "phase", id: "phase" },
    phase ? t("window.phase_n", { n: phase }) : t("window.phase_failed")),
    h("span", {}, t("window.versions", { product: update.product,
                                         from: update.from_version, to: update.to_version }))));

  if (phase === 1 && manage) {
    const requester = forceRequester(update);
    body.append(h("div", { class: "toolbar" },
      button("start-all", t("action.start_all"), () => act.sendStart(ctx, false),
        { primary: true }),
      button("start-selected", t("action.start_one"), () => act.sendStart(ctx, true),
        { enabled: selected }, refreshers),
      button("manual-block", t("action.manual_block"),
        () => manualCodes(ctx, ctx.state.selected, "block"), { enabled: selected }, refreshers),
      button("ddi-block", t("action.ddi_block"),
        () => act.ddiBlock(ctx, ctx.state.selected), { enabled: selectedDdi }, refreshers),
      button("disable-device", t("action.disable"),
        () => act.disableDevice(ctx, ctx.state.selected), { enabled: selected }, refreshers),
      h("span", { class: "spacer" }),
      button("start-update", t("action.start_update"), () => act.startServerUpdate(ctx),
        { primary: true, enabled: () => fleet().waiting === fleet().enabled }, refreshers),
      // U7: forcing is for devices that did not answer START: only once START was sent
      
      button("force-update", requester && requester !== ctx.session.username
        ? t("action.approve_force", { user: requester }) : t("action.force_update"),
        () => forceUpdate(ctx),
        { danger: true,
          enabled: () => fleet().notified > 0 && fleet().waiting < fleet().enabled },
        refreshers)));
    if (requester) {
      body.append(h("p", { class: "warning", id: "force-pending" },
        t("force.pending", { user: requester })));
    }
  }
  if (phase === 2) body.append(agentPanel(ctx, refreshers));
  if (phase === 3 && manage) {
    const released = update.devices_released;
    body.append(h("div", { class: "toolbar" },
      released ? null : button("finish-update", t("action.finish"), () => act.sendEnd(ctx, false),
        { primary: true }),
      released ? button("end-all", t("action.end_all"), () => act.sendEnd(ctx, false)) : null,
      button("end-selected", t("action.end_one"), () => act.sendEnd(ctx, true),
        { enabled: () => selected() && ctx.state.update.devices_released }, refreshers),
      button("disable-device", t("action.disable"),
        () => act.disableDevice(ctx, ctx.state.selected), { enabled: selected }, refreshers),
      h("span", { class: "spacer" }),
      button("conclude", t("action.conclude"), () => act.conclude(ctx),
        { primary: true, enabled: () => ctx.state.update.devices_released }, refreshers)));
    if (!released) body.append(h("p", { class: "warning" }, t("phase3.finish_first")));
  }
  if (phase === 0) body.append(failurePanel(ctx, manage, refreshers));
  // commands of the saga still without an answer after every re-send (the watchdog)
  const stuck = h("div", { id: "stuck-commands" });
  refreshers.push(() => {
    clear(stuck).append(...(ctx.state.update.stuck || []).map((s) => h("p", {
      class: "warning", "data-stuck": s.what }, t("stuck.line",
      { since: when(s.since), detail: s.detail }))));
  });
  body.append(stuck);

  body.append(fleetProgress(ctx, phase, refreshers));
  const filters = h("div", { class: "filters", id: "grid-filters" });
  refreshers.push(() => renderFilters(filters, ctx.state.filter, (f) => ctx.setFilter(f),
                                      { phase3: phase === 3 }));
  body.append(filters);
  body.append(gridWithDetail(ctx, refreshers));
  return windowFrame(titles[phase], close, body);
}

// the devices' progress through the current phase, as bars (waiting 12 / 15) and counts
function fleetProgress(ctx, phase, refreshers) {
  const box = h("div", { class: "fleet-progress", id: "fleet-counts" });
  refreshers.push(() => {
    const f = ctx.state.update.fleet;
    const bars = { 1: ["delivered", "waiting"], 2: ["waiting"], 3: ["on_target"] }[phase] || [];
    const counts = ["enabled", "notified", "delivered", "blocked", "waiting", "on_target"]
      .filter((k) => phase === 3 || k !== "on_target");
    clear(box).append(
      ...bars.map((k) => progressBar(k, f[k], f.enabled)),
      h("div", { class: "counts" }, [...counts.map((k) => h("span", { "data-count": k },
        `${t(`count.${k}`)}: `, h("b", {}, f[k]))), stopTime(ctx.state.update.stop_time)]
        .filter(Boolean)));
  });
  return box;
}

export function progressBar(key, value, total) {
  const percent = total ? Math.round((100 * value) / total) : 0;
  const label = t(`progress.${key}`, { n: value, total });
  return h("div", { class: "progress-row", "data-progress": key },
    h("span", { class: "progress-label" }, label),
    h("div", { class: "progress", role: "progressbar", "aria-label": label,
               "aria-valuemin": 0, "aria-valuemax": total, "aria-valuenow": value },
      h("div", { style: `width:${percent}%` })));
}

function gridWithDetail(ctx, refreshers) {
  const grid = h("div", { class: "grid-wrap" });
  const detail = h("aside", { class: "device-detail", id: "device-detail",
                              "aria-labelledby": "device-detail-title", hidden: true });
  refreshers.push(() => {
    if (!ctx.state.grid) return;
    const view = gridView(ctx.state.update);
    renderGrid(grid, ctx.state.grid, { view, filter: ctx.state.filter,
                                       selected: ctx.state.selected,
                                       onSelect: (serial) => ctx.select(serial) });
    renderDetail(detail, ctx.state.grid, view, ctx.state.selected);
  });
  return h("div", { class: "grid-and-detail" },
    h("p", { class: "note narrow-hint", hidden: true }, t("grid.narrow_hint")), grid, detail);
}

// issue 14 §2: first device blocked → last enabled device back at work on the new version
function stopTime(stop) {
  if (!stop || stop.seconds === null || stop.seconds === undefined) return null;
  const seconds = Number(stop.seconds).toFixed(1);
  return h("span", { "data-count": "stop_time", id: "stop-time" }, `${t("count.stop_time")}: `,
    h("b", {}, t(stop.complete ? "stop_time.value" : "stop_time.so_far", { seconds })));
}

// outside an update: what is offered, and the devices as they are now (not as the last
// update left them)
function noUpdate(ctx, manage, refreshers) {
  const banner = ctx.state.banner || {};
  const ready = ["green", "white"].includes(banner.state);
  const now = h("div", { class: "fleet-progress", id: "fleet-counts" });
  refreshers.push(() => {
    const grid = ctx.state.grid;
    if (!grid) return;
    const c = grid.counts;
    clear(now).append(
      grid.target_version ? progressBar("on_site_version", c.on_target, c.enabled) : null,
      h("div", { class: "counts" }, ["enabled", "blocked"].map((k) => h("span",
        { "data-count": k }, `${t(`count.${k}`)}: `, h("b", {}, c[k])))));
  });
  const filters = h("div", { class: "filters", id: "grid-filters" });
  refreshers.push(() => renderFilters(filters, ctx.state.filter, (f) => ctx.setFilter(f),
                                      { phase3: false }));
  return windowFrame(t("window.manage"), null, h("div", { class: "window-body" },
    h("p", {}, ready ? t("window.ready", { product: banner.product, version: banner.version })
      : t("window.nothing")),
    ready && banner.platform_required ? h("p", { class: "note", id: "platform-required" },
      t("banner.platform_required", { platform: banner.platform_required })) : null,
    ready && manage ? h("div", { class: "toolbar" }, h("button", {
      id: "open-update", class: "primary", onclick: () => act.openUpdate(ctx) },
    t("banner.manage"))) : null,
    now, filters, gridWithDetail(ctx, refreshers)));
}

// the installer's last line that says something (not an empty or "null" line)
export function meaningfulLine(text) {
  const lines = String(text ?? "").split(/\r?\n/).map((l) => l.trim())
    .filter((l) => l && l.toLowerCase() !== "null" && l.toLowerCase() !== "none");
  return lines.length ? lines[lines.length - 1] : "";
}

function agentPanel(ctx, refreshers) {
  const panel = h("div", { id: "agent-panel" });
  refreshers.push(() => {
    const agent = ctx.state.update.agent || {};
    const percent = agent.last_percent ?? 0;
    clear(panel).append(
      h("p", { class: "warning" }, t("phase2.close_programs")),
      progressBar("installer", percent, 100),
      h("p", { id: "installer-line" }, meaningfulLine(agent.last_progress)
        || t("phase2.waiting")),
      h("p", { class: "note" }, t("phase2.heartbeat", { at: when(agent.last_heartbeat) })),
      agent.not_responding ? h("p", { class: "not-responding", id: "not-responding" },
        t("phase2.not_responding")) : null);
  });
  return panel;
}

function failurePanel(ctx, manage, refreshers) {
  const failure = ctx.state.update.failure || {};
  const report = h("p", { id: "report-status", class: "note" });
  let watching = null;
  // the report is delivered in the background, retried until accepted: while it is pending,
  // its status is re-read every 2 s (it is not part of the site's live view)
  const showReport = async () => {
    const status = await apiOrNull("GET",
      `/updates/${ctx.state.update.update_id}/support-report`).catch(() => null);
    report.dataset.status = status ? status.status : "none";
    report.textContent = status ? t(`report.status_${status.status}`,
      { attempts: status.attempts ?? 0, at: when(status.delivered_at) }) : "";
    if (status && status.status === "pending" && !watching) {
      watching = setTimeout(() => {
        watching = null;
        if (report.isConnected) showReport();
      }, 2000);
    }
  };
  refreshers.push(showReport);
  const resumed = reactivated(ctx);
  return h("div", { class: "failure-block", id: "failure-panel",
                    "data-reactivated": String(resumed) },
    resumed ? h("div", { class: "resumed", id: "work-resumes" },
      h("p", {}, h("b", {}, t("failure.reactivated"))), h("p", {}, t("failure.what_remains")))
      : null,
    h("div", { class: resumed ? "failure failure--settled" : "failure" },
      h("p", {}, h("b", {}, t(resumed ? "failure.headline_settled" : "failure.headline"))),
      h("p", {}, t("failure.reason", { reason: translated("failure.code", failure.reason)
                                                || "—" })),
      failure.exit_code !== undefined && failure.exit_code !== null
        ? h("p", {}, t("failure.exit_code", { code: failure.exit_code })) : null),
    failure.log_tail ? h("pre", { class: "log" }, failure.log_tail) : null,
    manage ? h("div", { class: "toolbar" },
      resumed ? null : h("button", { id: "reactivate", class: "primary", onclick: () =>
        act.reactivateDevices(ctx) }, t("action.reactivate")),
      button("unblock-device", t("action.unblock"),
        () => manualCodes(ctx, ctx.state.selected, "unblock"),
        { enabled: () => Boolean(ctx.state.selected) }, refreshers),
      h("button", { id: "support-report", onclick: () => act.sendSupportReport(ctx) },
        t("action.report"))) : null,
    isSupport(ctx.session) ? h("div", { class: "toolbar" }, h("button", {
      id: "resolve", class: "primary", onclick: () => act.resolveFailure(ctx) },
    t("action.resolve"))) : null,
    report);
}
