// Vendor support's view across sites (issue 14 §3): every site with its versions, subscription,
// banner and last check (failed updates waiting for support first), filters and a CSV export;
// one release across the sites; the failed updates with their report.
import { api } from "./api.js";
import { currentSession } from "./session.js";
import { clear, h, when } from "./dom.js";
import { t } from "./i18n.js";

const BANNERS = ["none", "blue", "yellow", "green", "white", "update_in_progress",
                 "server_updated", "red"];
const ADOPTION = ["on_it", "past_it", "updating", "failed", "offered", "not_yet_offered"];

function query(form) {
  const params = new URLSearchParams();
  for (const [key, value] of new FormData(form)) if (value) params.append(key, value);
  return params.toString();
}

function products(site) {
  return site.products.map((p) => `${p.product} ${p.version}` + (p.next_version
    && p.next_version !== p.version ? ` (${t("vendor.next", { version: p.next_version })})`
    : "")).join(", ");
}

function siteRows(sites, ctx) {
  if (!sites.length) return h("tr", {}, h("td", { colspan: 7, class: "note" }, t("vendor.none")));
  return sites.map((s) => h("tr", {
    "data-site": s.site_id, class: s.waiting_for_support_since ? "late" : "",
    onclick: () => ctx.chooseSite(s.site_id),
  },
  h("td", {}, s.site_id), h("td", {}, s.name), h("td", {}, products(s)),
  h("td", {}, s.subscription_active ? t("vendor.active")
    : `${t("vendor.inactive")}: ${s.subscription_reason || "—"}`),
  h("td", { "data-column": "banner" }, s.banner), h("td", { title: s.time_zone }, when(s.last_check, s.time_zone)),
  h("td", {}, s.update_id ? [s.update_state, s.waiting_for_support_since
    ? ` · ${t("vendor.waiting_since", { at: when(s.waiting_for_support_since, s.time_zone) })}` : ""]
    .join("") : "—")));
}

async function downloadCsv(form) {
  // the export needs the session's token: fetched, then saved from a blob
  const response = await fetch(`/api/v1/vendor/sites.csv?${query(form)}`, {
    headers: { Authorization: `Bearer ${currentSession().token}` } });
  if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
  const link = h("a", { href: URL.createObjectURL(await response.blob()),
                        download: "lockstep-sites.csv" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function select(name, label, values) {
  return h("label", {}, label, h("select", { name, id: `vendor-${name}` },
    h("option", { value: "" }, t("vendor.any")),
    values.map(([value, text]) => h("option", { value }, text))));
}

function filterForm(onShow) {
  const form = h("form", { class: "toolbar", id: "vendor-filters",
                           onsubmit: (event) => { event.preventDefault(); onShow(); } },
    h("label", {}, t("vendor.product"), h("input", { name: "product", id: "vendor-product",
                                                     size: 10 })),
    h("label", {}, t("vendor.version"), h("input", { name: "version", id: "vendor-version",
                                                     size: 14 })),
    select("banner", t("vendor.banner"), BANNERS.map((b) => [b, b])),
    select("subscription", t("vendor.subscription"),
           [["active", t("vendor.active")], ["inactive", t("vendor.inactive")]]),
    h("label", {}, h("input", { type: "checkbox", name: "failed", value: "true",
                                id: "vendor-failed" }), t("vendor.failed_only")),
    h("input", { name: "q", id: "vendor-q", placeholder: t("vendor.search"), size: 14 }),
    h("button", { type: "submit", class: "primary", id: "vendor-show" }, t("vendor.apply")));
  form.append(h("button", { type: "button", id: "vendor-csv",
                            onclick: () => downloadCsv(form) }, t("vendor.csv")));
  return form;
}

function releaseForm() {
  const result = h("div", { id: "vendor-release-counts", class: "counts" });
  const form = h("form", { class: "toolbar", id: "vendor-release", onsubmit: async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const product = encodeURIComponent(data.get("product") || "");
    const version = encodeURIComponent(data.get("version") || "");
    const release = await api("GET", `/vendor/releases/${product}/${version}`);
    clear(result).append(...ADOPTION.map((key) => h("span", { "data-adoption": key,
      title: release.sites[key].join(", ") },
    `${t(`vendor.adoption.${key}`)}: `, h("b", {}, release.counts[key]))));
  } },
  h("input", { name: "product", id: "vendor-release-product", required: true, size: 10,
               placeholder: t("vendor.product") }),
  h("input", { name: "version", id: "vendor-release-version", required: true, size: 14,
               placeholder: t("vendor.version") }),
  h("button", { type: "submit", id: "vendor-release-show" }, t("vendor.release_show")));
  return h("div", {}, h("h3", {}, t("vendor.release_title")), form, result);
}

function failedList(failed) {
  return h("div", { id: "vendor-failed-updates" }, h("h3", {}, t("vendor.failed_title")),
    failed.length ? failed.map((f) => h("div", { class: "failure", "data-update": f.update_id },
      h("p", {}, h("b", {}, t("vendor.failed_line", { site: f.site_id, product: f.product,
        from: f.from_version, to: f.to_version, at: when(f.failed_at, f.time_zone), reason: f.reason || "—",
      }))),
      h("p", { class: "note", "data-report": f.report_status || "none" },
        f.report_status ? t(`report.status_${f.report_status}`, { attempts: f.report_attempts,
          at: when(f.report_delivered_at, f.time_zone) }) : t("vendor.report_none")),
      f.report ? h("pre", { class: "log" }, JSON.stringify(f.report, null, 2)) : null))
      : h("p", { class: "note" }, t("vendor.failed_none")));
}

export async function renderVendorView(el, ctx) {
  const body = h("tbody", {});
  const failed = h("div", {});
  const form = filterForm(() => show());
  async function show() {
    const [page, failures] = await Promise.all([
      api("GET", `/vendor/sites?${query(form)}`), api("GET", "/vendor/failed-updates")]);
    clear(body).append(...[siteRows(page.sites, ctx)].flat());
    clear(failed).append(failedList(failures.failed_updates));
  }
  clear(el).append(
    h("div", { class: "window-title" }, t("vendor.title")),
    h("div", { class: "window-body" }, form,
      h("div", { class: "grid-wrap" }, h("table", { class: "grid", id: "vendor-sites" },
        h("thead", {}, h("tr", {}, ["vendor.site", "vendor.name", "vendor.products",
          "vendor.subscription", "vendor.banner", "vendor.last_check", "vendor.update"]
          .map((k) => h("th", {}, t(k))))), body)),
      releaseForm(), failed));
  await show();
}
