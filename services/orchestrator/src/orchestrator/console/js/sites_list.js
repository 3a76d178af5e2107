// Vendor support (and admins of several sites): every site with its versions and its banner.
import { api } from "./api.js";
import { bannerText } from "./banner.js";
import { clear, h } from "./dom.js";
import { t } from "./i18n.js";
import { isSupport } from "./session.js";
import { createSiteButton } from "./site_creation.js";

export async function renderSitesList(el, ctx) {
  const sites = await api("GET", "/sites");
  const banners = await Promise.all(sites.map((s) =>
    api("GET", `/sites/${s.site_id}/banner`).catch(() => null)));
  clear(el).append(
    h("div", { class: "window-title" }, t("sites.title")),
    h("div", { class: "window-body" },
      isSupport(ctx.session) ? h("div", { class: "toolbar" }, createSiteButton(ctx, async (c) => {
        ctx.addSite(c.siteId);
        await renderSitesList(el, ctx);
      })) : null,
      h("div", { class: "grid-wrap", tabindex: 0, role: "region", "aria-label": t("sites.title") },
      h("table", { class: "grid", id: "sites-grid" },
        h("thead", {}, h("tr", {}, ["sites.site", "sites.name", "sites.versions",
          "sites.banner"].map((k) => h("th", {}, t(k))))),
        h("tbody", {}, sites.map((s, i) => h("tr", {
          "data-site": s.site_id, class: s.site_id === ctx.siteId ? "selected" : "",
          onclick: () => ctx.chooseSite(s.site_id),
        },
        h("td", {}, s.site_id), h("td", {}, s.name),
        h("td", {}, s.products.map((p) => `${p.product} ${p.version}`).join(", ")),
        h("td", {}, banners[i] ? h("span", { class: `banner--${banners[i].colour}`,
                                             style: "padding:.1rem .4rem;border-radius:3px" },
          bannerText(banners[i])) : "—"))))))));
}
