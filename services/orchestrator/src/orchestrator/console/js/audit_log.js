// U15: the audit log of the site — who, when, what, outcome — filterable by time and action.
import { api as call } from "./api.js";
import { errorDialog } from "./dialogs.js";
import { clear, currentTimeZone, h, when, zonedToIso } from "./dom.js";
import { t, translated } from "./i18n.js";
import { canManage } from "./session.js";

// the entry's details as "name: value" pairs, never raw JSON
function details(value) {
  if (!value || (typeof value === "object" && !Object.keys(value).length)) return "";
  if (typeof value === "string") return value;
  return Object.entries(value).map(([key, v]) => `${key}: ${
    Array.isArray(v) ? v.join(", ") : v && typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(" · ");
}

// "refused: the reason" → the translated outcome, the server's reason after it
function outcome(text) {
  if (!text) return "—";
  const at = text.indexOf(": ");
  const [head, rest] = at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + 2)];
  const word = translated("audit.outcome", head);
  return rest ? `${word}: ${rest}` : word;
}

// the site's time zone: shown to everyone, changed by its admins (dates follow at once)
function timeZoneControl(ctx, rerender) {
  const zone = currentTimeZone();
  if (!canManage(ctx.session)) {
    return h("p", { class: "note", id: "time-zone-note" }, t("audit.time_zone", { zone }));
  }
  const zones = typeof Intl.supportedValuesOf === "function"
    ? Intl.supportedValuesOf("timeZone") : [];
  const names = ["UTC", ...zones.filter((z) => z !== "UTC")];
  if (!names.includes(zone)) names.push(zone);
  const select = h("select", { id: "site-time-zone" },
    names.map((z) => h("option", { value: z, selected: z === zone }, z)));
  const save = async () => {
    try {
      const site = await call("PUT", `/sites/${ctx.siteId}/time-zone`,
                              { time_zone: select.value });
      ctx.useSite(site);
      await rerender();
    } catch (error) {
      await errorDialog(error);
    }
  };
  return h("span", { class: "time-zone-control" },
    h("label", {}, t("audit.site_time_zone"), select),
    h("button", { id: "save-time-zone", onclick: save }, t("audit.save_time_zone")));
}

export async function renderAuditLog(el, ctx, filters = {}) {
  const query = new URLSearchParams({ site_id: ctx.siteId, limit: "200" });
  for (const [key, value] of Object.entries(filters)) if (value) query.set(key, value);
  const answer = await call("GET", `/audit?${query}`);
  const entries = answer.entries || [];
  const since = h("input", { type: "datetime-local", id: "audit-since",
                             value: filters.sinceLocal || "" });
  const until = h("input", { type: "datetime-local", id: "audit-until",
                             value: filters.untilLocal || "" });
  const action = h("input", { id: "audit-action", value: filters.action || "",
                              placeholder: t("audit.action") });
  const iso = (input) => zonedToIso(input.value);  // the filters are the site's wall clock
  const apply = () => renderAuditLog(el, ctx, {
    since: iso(since), until: iso(until), action: action.value.trim(),
    sinceLocal: since.value, untilLocal: until.value,
  });
  clear(el).append(
    h("div", { class: "window-title" }, t("audit.title")),
    h("div", { class: "window-body" },
      h("div", { class: "audit-filters" },
        h("label", {}, t("audit.since"), since), h("label", {}, t("audit.until"), until),
        h("label", {}, t("audit.action"), action),
        h("button", { id: "audit-apply", onclick: apply }, t("audit.apply")),
        timeZoneControl(ctx, apply)),
      h("div", { class: "grid-wrap", tabindex: 0, role: "region",
                    "aria-label": t("audit.title") }, h("table", { class: "grid", id: "audit-grid" },
        h("thead", {}, h("tr", {}, ["audit.at", "audit.actor", "audit.role", "audit.action",
          "audit.outcome", "audit.details"].map((k) => h("th", {}, t(k))))),
        h("tbody", {}, entries.length ? entries.map((e) => h("tr", {},
          h("td", {}, when(e.at)), h("td", {}, e.actor || "—"),
          h("td", {}, e.role ? translated("role", e.role) : "—"),
          h("td", { "data-action": e.action }, translated("audit.action", e.action)),
          h("td", { "data-outcome": e.outcome || "" }, outcome(e.outcome)),
          h("td", { class: "note" }, details(e.details))))
          : h("tr", {}, h("td", { colspan: 6, class: "note" }, t("audit.empty"))))))));
}
