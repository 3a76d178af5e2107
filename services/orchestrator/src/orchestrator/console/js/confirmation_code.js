// U13: a release that needs the vendor's confirmation code. The window shows a fresh challenge
// of 3×5 digits (keep it open while talking to support), and takes the 3×5-digit response.
import { api } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";

export function renderConfirmationCode(ctx, update) {
  const challenge = (ctx.state.challenge && ctx.state.challenge.update_id === update.update_id
    ? ctx.state.challenge.value : update.challenge) || "";
  const parts = challenge.replace(/\D/g, "").match(/\d{1,5}/g) || ["", "", ""];
  const shown = [0, 1, 2].map((i) => h("input", { readonly: true, class: "challenge-part",
                                                  value: parts[i] || "" }));
  const typed = [0, 1, 2].map((i) => h("input", { class: "response-part", maxlength: 5,
                                                  inputmode: "numeric",
                                                  id: `response-${i + 1}` }));
  const message = h("p", { class: "error", role: "alert", id: "code-message" });
  const start = h("button", { class: "primary", id: "submit-code", onclick: async () => {
    message.textContent = "";
    try {
      await api("POST", `/updates/${update.update_id}/confirmation-code`,
                { response: typed.map((i) => i.value.trim()).join("-") });
      ctx.state.challenge = null;
      ctx.refresh();
    } catch (error) {
      const left = error.body && error.body.attempts_left;
      message.textContent = left === undefined ? error.message
        : `${error.message} (${t("codes.attempts_left", { n: left })})`;
    }
  } }, t("code.start"));
  const renew = h("button", { id: "new-challenge", onclick: async () => {
    const answer = await api("POST", `/updates/${update.update_id}/challenge`, {});
    ctx.state.challenge = { update_id: update.update_id, value: answer.challenge };
    ctx.refresh();
  } }, t("code.new_challenge"));
  return h("div", { class: "window-body", id: "confirmation-code" },
    h("p", {}, t("code.explain")),
    h("h3", {}, t("code.to_tell")),
    h("div", { class: "code-row", id: "challenge" }, shown),
    h("p", { class: "note" }, t("code.keep_open")),
    h("h3", {}, t("code.from_vendor")),
    h("div", { class: "code-row" }, typed),
    h("div", { class: "toolbar" }, start, renew),
    message);
}
