// The console: sign in, pick the site, show its banner and the windows the role allows; keep
// everything current from the live stream (with a periodic refresh as the fallback).
import { api, apiOrNull, whenUnauthorized } from "./api.js";
import { renderAuditLog } from "./audit_log.js";
import { renderBanner } from "./banner.js";
import { errorDialog } from "./dialogs.js";
import { renderDeviceManagement } from "./device_management.js";
import { currentTimeZone, h, useTimeZone } from "./dom.js";
import {
  currentLanguage, initialLanguage, rememberedLanguage, rememberLanguage, t, useLanguage,
} from "./i18n.js";
import { canManage, currentSession, isSupport, logIn, logOut } from "./session.js";
import { watchSite } from "./site_live.js";
import { renderSitesList } from "./sites_list.js";
import { openUpdate } from "./update_actions.js";
import { isActive, reactivated, renderUpdateWindow } from "./update_window.js";
import { renderVendorView } from "./vendor_view.js";

const $ = (id) => document.getElementById(id);
let ctx = null;

function showLogin(message = "") {
  if (ctx) ctx.stop();
  ctx = null;
  $("app-view").hidden = true;
  $("logout").hidden = true;
  $("site-picker").hidden = true;
  $("who").textContent = "";
  $("site-name").textContent = "";
  $("login-view").hidden = false;
  $("login-error").textContent = message;
  $("login-username").focus();
}

async function siteIds(session) {
  if (isSupport(session) || (session.sites || []).includes("*")) {
    return (await api("GET", "/sites")).map((s) => s.site_id);
  }
  return session.sites || [];
}

function tabsFor(session, sites) {
  if (session.role === "user") return [];
  const tabs = ["update", "devices", "audit"];
  if (isSupport(session) || sites.length > 1) tabs.push("sites");
  if (isSupport(session)) tabs.push("vendor");
  return tabs;
}

function makeContext(session, sites) {
  const listeners = new Set();
  let running = null;
  let again = false;
  const state = { banner: null, update: null, grid: null, filter: "all", selected: null,
                  tab: isSupport(session) ? "sites" : "update", challenge: null };
  const c = {
    session, sites, state, siteId: null, stopLive: () => {},
    onRefresh(listener) { listeners.add(listener); return () => listeners.delete(listener); },
    async refresh() {
      if (running) { again = true; return running; }
      running = (async () => {
        do {
          again = false;
          await load(c).catch((error) => {
            if (error.status !== 401) $("live-state").textContent = error.message;
          });
        } while (again);
        running = null;
      })();
      return running;
    },
    render() { render(c); },
    select(serial) { state.selected = serial; render(c); },
    setFilter(filter) { state.filter = filter; c.refresh(); },
    showTab(tab) { state.tab = tab; render(c); showWindow(c); },
    chooseSite(siteId) { chooseSite(c, siteId); },
    // the site's name and time zone: every date and time is drawn again in it
    useSite(site) {
      $("site-name").textContent = `${site.name} (${site.site_id})`;
      const before = currentTimeZone();
      const zone = useTimeZone(site.time_zone || "UTC");
      $("site-name").title = t("audit.time_zone", { zone });
      if (zone !== before) {
        render(c);
        if (c.state.tab !== "update") showWindow(c);
      }
    },
    addSite(siteId) {  // vendor support created it
      if (c.sites.includes(siteId)) return;
      c.sites.push(siteId);
      $("site-select").append(h("option", { value: siteId }, siteId));
      $("site-picker").hidden = c.sites.length < 2;
    },
    stop() { c.stopLive(); },
  };
  c.notify = () => listeners.forEach((listener) => listener());
  return c;
}

async function load(c) {
  const { state } = c;
  const siteId = c.siteId;
  const banner = await api("GET", `/sites/${siteId}/banner`);
  let update = null;
  let grid = null;
  if (c.session.role !== "user") {
    update = await apiOrNull("GET", `/sites/${siteId}/updates/current`);
    const phase3 = update && update.state === "server_updated";
    if (!phase3 && state.filter !== "attention") state.filter = "all";
    // "needs attention" is decided here, from the whole grid
    const shown = state.filter === "attention" ? "all" : state.filter;
    grid = await api("GET", `/sites/${siteId}/devices?filter=${shown}`);
  }
  if (siteId !== c.siteId) return;
  Object.assign(state, { banner, update, grid });
  if (state.selected && grid && !grid.devices.some((d) => d.serial === state.selected)) {
    state.selected = null;
  }
  render(c);
  c.notify();
}

function render(c) {
  const { state } = c;
  if (c.liveState) $("live-state").textContent = t(`live.${c.liveState}`);
  if (!state.banner) return;
  renderBanner($("banner"), state.banner, {
    canManage: canManage(c.session), reactivated: reactivated(c),
    onManage: () => (isActive(state.update) ? c.showTab("update") : openUpdate(c)),
  });
  if (state.tab === "update" && c.session.role !== "user") {
    renderUpdateWindow($("update-window"), c);
  }
}

function showWindow(c) {
  const tabs = tabsFor(c.session, c.sites);
  $("tabs").hidden = tabs.length === 0;
  for (const tab of document.querySelectorAll("#tabs .tab")) {
    tab.hidden = !tabs.includes(tab.dataset.tab);
    tab.setAttribute("aria-selected", String(tab.dataset.tab === c.state.tab));
  }
  for (const win of document.querySelectorAll("[data-window]")) {
    win.hidden = !tabs.includes(win.dataset.window) || win.dataset.window !== c.state.tab;
  }
  const shows = { devices: () => renderDeviceManagement($("devices-window"), c),
                  audit: () => renderAuditLog($("audit-window"), c),
                  sites: () => renderSitesList($("sites-window"), c),
                  vendor: () => renderVendorView($("vendor-window"), c) };
  if (tabs.includes(c.state.tab) && shows[c.state.tab]) shows[c.state.tab]().catch(errorDialog);
}

function chooseSite(c, siteId, { keepTab = false } = {}) {
  c.stopLive();
  c.siteId = siteId;
  Object.assign(c.state, { banner: null, update: null, grid: null, selected: null,
                           filter: "all" });
  localStorage.setItem(`lockstep.site.${c.session.username}`, siteId);
  $("site-select").value = siteId;
  c.stopLive = watchSite(siteId, () => c.refresh(), (live) => {
    c.liveState = live;
    $("live-state").textContent = t(`live.${live}`);
  });
  if (["sites", "vendor"].includes(c.state.tab) && !keepTab) c.state.tab = "update";
  $("site-name").textContent = siteId;
  api("GET", `/sites/${siteId}`).then((site) => {
    if (c.siteId === siteId) c.useSite(site);
  }).catch(() => {});
  showWindow(c);
  c.refresh();
}

async function startApp(session) {
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = `${session.username} · ${t(`role.${session.role}`)}`;
  const sites = await siteIds(session);
  ctx = makeContext(session, sites);
  const select = $("site-select");
  select.replaceChildren(...sites.map((s) => h("option", { value: s }, s)));
  $("site-picker").hidden = sites.length < 2;
  if (!sites.length) {
    $("banner").textContent = t("app.no_sites");
    return;
  }
  const last = localStorage.getItem(`lockstep.site.${session.username}`);
  chooseSite(ctx, sites.includes(last) ? last : sites[0], { keepTab: true });
}

async function boot() {
  await useLanguage(initialLanguage());
  $("language-select").value = currentLanguage();
  $("language-select").addEventListener("change", async (event) => {
    const lang = await useLanguage(event.target.value);
    const session = currentSession();
    if (session) {
      rememberLanguage(session.username, lang);
      $("who").textContent = `${session.username} · ${t(`role.${session.role}`)}`;
    } else {
      localStorage.setItem("lockstep.language", lang);
    }
    if (ctx) { ctx.render(); showWindow(ctx); }
  });
  for (const tab of document.querySelectorAll("#tabs .tab")) {
    tab.addEventListener("click", () => ctx && ctx.showTab(tab.dataset.tab));
  }
  $("site-select").addEventListener("change", (e) => ctx && ctx.chooseSite(e.target.value));
  $("logout").addEventListener("click", async () => { await logOut(); showLogin(); });
  whenUnauthorized(() => showLogin(t("login.expired")));
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("login-error").textContent = "";
    const username = $("login-username").value.trim();
    try {
      const session = await logIn(username, $("login-password").value);
      $("login-password").value = "";
      const lang = rememberedLanguage(session.username) || session.language || currentLanguage();
      await useLanguage(lang);
      $("language-select").value = currentLanguage();
      rememberLanguage(session.username, currentLanguage());
      await startApp(session);
    } catch (error) {
      $("login-error").textContent = error.status === 429
        ? t("login.too_many", { seconds: error.retryAfter || "?" })
        : error.status === 401 ? t("login.wrong") : error.message;
    }
  });
  const session = currentSession();
  if (session) await startApp(session).catch(() => showLogin());
  else showLogin();
}

boot();
