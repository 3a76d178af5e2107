// Vendor support creates a site and its first admin from the console. The site's enrolment
// code (what the handhelds register with) is made here, sent once, shown once with a printable
// enrolment sheet, and never shown again (the server keeps only its hash).
import { api } from "./api.js";
import { errorDialog, openDialog } from "./dialogs.js";
import { clear, h } from "./dom.js";
import { t } from "./i18n.js";

const ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";  // no 0/O, 1/I: read aloud, typed on a handheld

export function newEnrolmentCode(groups = 4, size = 4) {
  const bytes = crypto.getRandomValues(new Uint8Array(groups * size));
  const chars = [...bytes].map((b) => ALPHABET[b % ALPHABET.length]);
  return Array.from({ length: groups }, (_, i) => chars.slice(i * size, (i + 1) * size).join(""))
    .join("-");
}

// the site's time zone (IANA): its console shows dates and times in it
function zoneField() {
  const zones = typeof Intl.supportedValuesOf === "function"
    ? Intl.supportedValuesOf("timeZone").filter((z) => z !== "UTC") : [];
  return h("label", { class: "form-field" }, h("span", {}, t("newsite.time_zone")),
    h("select", { id: "new-site-time-zone", name: "new-site-time-zone" },
      ["UTC", ...zones].map((z) => h("option", { value: z, selected: z === "UTC" }, z))));
}

function field(id, label, attrs = {}) {
  return h("label", { class: "form-field" }, h("span", {}, t(label)),
    h("input", { id, name: id, required: true, ...attrs }));
}

// the form; resolves with what was created (or null)
export async function createSite(ctx) {
  const error = h("p", { class: "error", role: "alert" });
  const form = h("div", { class: "site-form" },
    field("new-site-id", "newsite.site_id", { pattern: "[a-z0-9][a-z0-9\\-]{0,62}",
                                              autocomplete: "off" }),
    field("new-site-name", "newsite.name", { autocomplete: "off" }),
    field("new-site-licence", "newsite.licence", { autocomplete: "off" }),
    field("new-site-product", "newsite.product", { autocomplete: "off" }),
    field("new-site-version", "newsite.version", { autocomplete: "off" }),
    zoneField(),
    h("h3", {}, t("newsite.first_admin")),
    field("new-admin-username", "login.username", { autocomplete: "off" }),
    field("new-admin-password", "newsite.admin_password", { type: "password", minlength: 8,
                                                            autocomplete: "new-password" }),
    field("new-site-gateway", "newsite.gateway", { type: "url", value: window.location.origin }),
    error);
  const value = (id) => form.querySelector(`#${id}`).value.trim();
  let created = null;
  const choice = await openDialog({
    title: t("newsite.title"), name: "create-site", body: [form],
    buttons: [
      { label: t("common.cancel"), value: "cancel" },
      { label: t("newsite.create"), value: "create", class: "primary", check: async () => {
        const invalid = [...form.querySelectorAll("input")].find((i) => !i.checkValidity());
        if (invalid) {
          error.textContent = t("newsite.invalid", { field: invalid.previousSibling.textContent });
          invalid.focus();
          return false;
        }
        const code = newEnrolmentCode();
        try {
          await api("POST", "/sites", {
            site_id: value("new-site-id"), name: value("new-site-name"),
            license_key: value("new-site-licence"), enrolment_code: code,
            products: [{ product: value("new-site-product"), version: value("new-site-version") }],
            time_zone: form.querySelector("#new-site-time-zone").value,
          });
        } catch (e) {
          error.textContent = e.message;
          return false;
        }
        created = { siteId: value("new-site-id"), name: value("new-site-name"), code,
                    gateway: value("new-site-gateway"), admin: value("new-admin-username") };
        try {  // the QR code of the sheet, drawn by the server (the console has no QR code)
          const svg = await api("POST", "/enrolment-qr-codes", {
            site_id: created.siteId, gateway_url: created.gateway, enrolment_code: code,
          }, "image/svg+xml");
          created.qr = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
        } catch (e) {
          created.qrError = e.message;
        }
        try {
          await api("POST", "/users", { username: created.admin, role: "admin",
                                        password: form.querySelector("#new-admin-password").value,
                                        sites: [created.siteId] });
          created.adminCreated = true;
        } catch (e) {
          created.adminError = e.message;
        }
        return true;
      } },
    ],
  });
  if (choice !== "create" || !created) return null;
  await showEnrolmentSheet(created);
  return created;
}

function sheet(created) {
  return h("div", { class: "enrolment-sheet", id: "enrolment-sheet" },
    h("h2", {}, t("enrolment.title", { name: created.name })),
    h("p", {}, t("enrolment.site", { site: created.siteId })),
    h("p", {}, t("enrolment.gateway")),
    h("p", {}, h("code", { id: "enrolment-gateway" }, created.gateway)),
    h("p", {}, t("enrolment.code")),
    h("p", {}, h("span", { class: "code-output", id: "enrolment-code" }, created.code)),
    created.qr
      ? h("figure", { class: "enrolment-qr" },
        h("img", { id: "enrolment-qr", src: created.qr, width: 220, height: 220,
                   alt: t("enrolment.qr_alt", { site: created.siteId }) }),
        h("figcaption", {}, t("enrolment.qr_caption")))
      : h("p", { class: "error", id: "enrolment-qr-failed" },
        t("enrolment.qr_failed", { reason: created.qrError || "" })),
    h("ol", { class: "steps" }, ["enrolment.step1", "enrolment.step2", "enrolment.step3"]
      .map((k) => h("li", {}, t(k)))));
}

// shown once: after this dialog closes, nobody can read the code again
async function showEnrolmentSheet(created) {
  const printArea = document.getElementById("print-area");
  const print = () => {
    printArea.replaceChildren(sheet(created));
    window.print();
  };
  const body = [
    h("p", { class: "warning", id: "code-shown-once" }, t("enrolment.once")),
    sheet(created),
    created.adminCreated
      ? h("p", { id: "first-admin-created" }, t("newsite.admin_created", { user: created.admin }))
      : h("p", { class: "error", id: "first-admin-failed" },
        t("newsite.admin_failed", { user: created.admin, reason: created.adminError })),
    h("button", { id: "print-enrolment", onclick: print }, t("enrolment.print")),
  ];
  await openDialog({ title: t("newsite.created"), name: "enrolment-sheet", body,
                     buttons: [{ label: t("enrolment.done"), value: "ok", class: "primary" }] });
  printArea.replaceChildren();
  clear(document.getElementById("dialog"));  // nothing of the code stays in the page
}

export function createSiteButton(ctx, onCreated) {
  return h("button", { id: "create-site", class: "primary", onclick: async () => {
    try {
      const created = await createSite(ctx);
      if (created) await onCreated(created);
    } catch (error) {
      await errorDialog(error);
    }
  } }, t("newsite.button"));
}
