// N1: the banner every user of the site sees, in its colour, with the details link.
import { clear, h } from "./dom.js";
import { t } from "./i18n.js";

const MANAGEABLE = new Set(["green", "white", "update_in_progress", "server_updated", "red"]);

export function bannerText(banner) {
  const vars = { product: banner.product || "", version: banner.version || "" };
  const key = `banner.${banner.state}`;
  const text = t(key, vars);
  return text === key ? banner.message : text;
}

// ``reactivated``: after a failure the devices work again; the button opens the failure
// window (report, support) instead of offering Reactivate again
export function renderBanner(el, banner, { canManage, onManage, reactivated = false }) {
  clear(el);
  el.className = `banner banner--${banner.colour}`;
  el.dataset.state = banner.state;
  el.dataset.colour = banner.colour;
  el.title = banner.message || "";
  el.append(h("span", { class: "banner-text" }, bannerText(banner)));
  if (banner.platform_required) {  // R8: shown, but the platform update comes first
    el.append(h("span", { class: "note banner-platform" },
                t("banner.platform_required", { platform: banner.platform_required })));
  }
  if (banner.state === "blue" && banner.message) {
    el.append(h("span", { class: "note banner-reason" }, banner.message));
  }
  if (banner.details_url) {
    el.append(h("a", { href: banner.details_url, target: "_blank", rel: "noopener",
                       class: "details-link" }, t("banner.details")));
  }
  if (canManage && MANAGEABLE.has(banner.state)) {
    const label = banner.state === "red" && !reactivated ? t("banner.reactivate")
      : t("banner.manage");
    el.append(h("button", { class: "primary", id: "manage-update", onclick: onManage }, label));
  }
}
