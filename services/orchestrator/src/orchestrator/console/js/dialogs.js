// Modal windows of the procedure: a question with Yes/No, a message with OK, or a custom body.
import { clear, h } from "./dom.js";
import { t } from "./i18n.js";

function dialogElement(id = "dialog") {
  return document.getElementById(id);
}

// open({title, body: [nodes], buttons: [{label, value, class}], name}) → Promise<value|null>
export function openDialog({ title, body, buttons, name, id }) {
  const dialog = dialogElement(id);
  clear(dialog);
  dialog.dataset.name = name || "";
  return new Promise((resolve) => {
    const finish = (value) => {
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onCancel = (event) => { event.preventDefault(); finish(null); };
    dialog.addEventListener("cancel", onCancel);
    dialog.setAttribute("aria-labelledby", `${dialog.id}-title`);
    dialog.append(
      h("div", { class: "dialog-title", id: `${dialog.id}-title` }, title),
      h("div", { class: "dialog-body" }, body),
      h("div", { class: "dialog-buttons" },
        buttons.map((b) => h("button", {
          class: b.class || "", "data-action": b.value,
          onclick: async (event) => {
            event.preventDefault();
            if (b.check && !(await b.check())) return;
            finish(b.value);
          },
        }, b.label))),
    );
    dialog.showModal();
  });
}

export async function confirmDialog({ title, message, yes, no, danger, name, extra }) {
  const body = [h("p", {}, message), ...(extra || [])];
  const value = await openDialog({
    title, body, name,
    buttons: [
      { label: no || t("common.no"), value: "no" },
      { label: yes || t("common.yes"), value: "yes", class: danger ? "danger" : "primary" },
    ],
  });
  return value === "yes";
}

export async function messageDialog({ title, message, name, body }) {
  await openDialog({
    title, name, body: body || [h("p", {}, message)],
    buttons: [{ label: t("common.ok"), value: "ok", class: "primary" }],
  });
}

// a refusal says what it means in the user's language (its reason or code, with their
// parameters: api_detail.js); the server's own words only folded away, for support
export function errorDialog(error) {
  const body = (error && error.body) || {};
  const text = (error && error.message) || String(error);
  const said = error && error.serverSaid;
  return messageDialog({ title: t("common.error"), name: "error", body: [
    h("p", { "data-code": body.code || null, "data-reason": body.reason || null }, text),
    said && said !== text ? h("details", { class: "note" },
      h("summary", {}, t("error.server_said_title")), h("p", {}, said)) : null,
  ] });
}

// A dialog whose content the caller keeps updating (outcome summaries): returns {body, closed}.
export function liveDialog({ title, name, id = "side-dialog" }) {
  const body = h("div", { class: "dialog-body" });
  const dialog = dialogElement(id);
  clear(dialog);
  dialog.dataset.name = name || "";
  const closed = new Promise((resolve) => {
    const ok = h("button", { class: "primary", "data-action": "ok",
                             onclick: () => { dialog.close(); resolve(); } }, t("common.ok"));
    dialog.addEventListener("close", () => resolve(), { once: true });
    dialog.setAttribute("aria-labelledby", `${dialog.id}-title`);
    dialog.append(h("div", { class: "dialog-title", id: `${dialog.id}-title` }, title), body,
                  h("div", { class: "dialog-buttons" }, ok));
  });
  dialog.showModal();
  return { body, closed, dialog };
}
