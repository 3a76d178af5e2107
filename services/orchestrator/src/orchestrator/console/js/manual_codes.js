// U5/D8: manual block or unblock by codes, for a device the push did not reach. The operator
// reads code 1 from the device; GENERATE gives code 2 for the operator; the device shows code 3;
// VERIFY checks it and records the device's new state.
import { api, ApiError } from "./api.js";
import { clear, h } from "./dom.js";
import { t } from "./i18n.js";

function attemptsText(error) {
  const left = error.body && error.body.attempts_left;
  return left === undefined ? error.message : `${error.message} (${t("codes.attempts_left",
    { n: left })})`;
}

export function manualCodes(ctx, serial, action) {
  const dialog = document.getElementById("dialog");
  clear(dialog);
  dialog.dataset.name = `codes-${action}`;
  const base = `/sites/${ctx.siteId}/devices/${encodeURIComponent(serial)}/codes`;
  let exchange = null;
  const code1 = h("input", { id: "code1", inputmode: "numeric", maxlength: 12,
                             autocomplete: "off" });
  const code2 = h("span", { id: "code2", class: "code-output" }, "—");
  const code3 = h("input", { id: "code3", inputmode: "numeric", maxlength: 12,
                             autocomplete: "off", disabled: true });
  const verify = h("button", { id: "verify-code", class: "primary", disabled: true },
    t("codes.verify"));
  const message = h("p", { class: "error", role: "alert", id: "codes-message" });
  const outcome = h("p", { id: "codes-outcome" });

  const generate = h("button", { id: "generate-code", class: "primary", onclick: async () => {
    message.textContent = "";
    try {
      exchange = await api("POST", base, { action, code1: code1.value.trim() });
      code2.textContent = exchange.code2;
      code3.disabled = false;
      verify.disabled = false;
      code3.focus();
    } catch (error) {
      message.textContent = attemptsText(error);
    }
  } }, t("codes.generate"));

  verify.addEventListener("click", async () => {
    message.textContent = "";
    try {
      const answer = await api("POST", `${base}/${exchange.exchange_id}/confirmation`,
                               { code3: code3.value.trim() });
      outcome.textContent = answer.blocked ? t("codes.now_blocked", { serial })
        : t("codes.now_unblocked", { serial });
      outcome.className = "tick";
      verify.disabled = true;
      generate.disabled = true;
      ctx.refresh();
    } catch (error) {
      message.textContent = error instanceof ApiError && error.status === 410
        ? t("codes.expired") : attemptsText(error);
    }
  });

  const steps = [
    t("codes.step1"), t("codes.step2"), t(`codes.step3_${action}`), t("codes.step4"),
  ];
  if (action === "block") steps.push(t("codes.step5_block"));
  dialog.append(
    h("div", { class: "dialog-title" }, t(`codes.title_${action}`, { serial })),
    h("div", { class: "dialog-body" },
      h("ol", { class: "steps" }, steps.map((s) => h("li", {}, s))),
      h("label", { class: "code-row" }, h("span", {}, t("codes.code1")), code1, generate),
      h("div", { class: "code-row" }, h("span", {}, t("codes.code2")), code2),
      h("label", { class: "code-row" }, h("span", {}, t("codes.code3")), code3, verify),
      message, outcome),
    h("div", { class: "dialog-buttons" },
      h("button", { "data-action": "close", onclick: () => dialog.close() }, t("common.close"))),
  );
  dialog.showModal();
  code1.focus();
  return new Promise((resolve) => dialog.addEventListener("close", resolve, { once: true }));
}
