// Devices with a hawkBit DDI agent (D14): per device model, what "waiting for update" means —
// "staged" (the agent's `downloaded` in phase 1 counts) or "admin" (the site admin blocks the
// device once it has stopped; the default) — and the artifact name's suffix its agent needs.
// A section of the device management window; every change is audited by the server.
import { api } from "./api.js";
import { confirmDialog, errorDialog } from "./dialogs.js";
import { clear, h } from "./dom.js";
import { t } from "./i18n.js";

const WAITING = ["admin", "staged"];

// The section: an element filled (and refilled after each change) from the admin API.
export function ddiModelsSection(ctx) {
  const section = h("section", { class: "ddi-models", id: "ddi-models",
                                 "aria-labelledby": "ddi-models-title" });
  fill(section, ctx).catch(errorDialog);
  return section;
}

async function fill(section, ctx, status = "") {
  const answer = await api("GET", `/sites/${ctx.siteId}/ddi-models`);
  const refill = (text) => fill(section, ctx, text).catch(errorDialog);
  const save = async (model, waiting, suffix) => {
    if (!model) return;
    if (waiting === "staged") {
      const yes = await confirmDialog({ title: t("ddi_models.staged_title"), name: "ddi-staged",
                                        message: t("ddi_models.staged_warning", { model }) });
      if (!yes) return;
    }
    try {
      await api("PUT", `/sites/${ctx.siteId}/ddi-models/${encodeURIComponent(model)}`,
                { waiting, artifact_suffix: suffix });
      refill(t("ddi_models.saved", { model, waiting: t(`ddi_models.waiting.${waiting}`) }));
    } catch (error) { await errorDialog(error); }
  };
  const choice = (value, label) => h("select", { "aria-label": label, class: "ddi-waiting" },
    WAITING.map((w) => h("option", { value: w, selected: w === value },
                         t(`ddi_models.waiting.${w}`))));
  const suffixInput = (value, label) => h("input", {
    class: "ddi-suffix", value, size: 8, maxlength: 16, "aria-label": label });
  const rows = answer.models.map((m) => {
    const waiting = choice(m.waiting, t("ddi_models.waiting"));
    const suffix = suffixInput(m.artifact_suffix, t("ddi_models.suffix"));
    return h("tr", { "data-model": m.model },
      h("td", {}, m.model), h("td", { "data-column": "devices" }, String(m.devices)),
      h("td", {}, waiting, m.chosen ? null : h("span", { class: "note" },
                                              ` ${t("ddi_models.default")}`)),
      h("td", {}, suffix),
      h("td", {}, h("button", { class: "ddi-save",
                                onclick: () => save(m.model, waiting.value, suffix.value) },
                    t("ddi_models.save"))));
  });
  const newModel = h("input", { id: "ddi-new-model", maxlength: 100,
                                "aria-label": t("ddi_models.model") });
  const newWaiting = choice("admin", t("ddi_models.waiting"));
  const newSuffix = suffixInput(".swu", t("ddi_models.suffix"));
  rows.push(h("tr", { class: "ddi-new" },
    h("td", {}, newModel), h("td", {}, "—"), h("td", {}, newWaiting), h("td", {}, newSuffix),
    h("td", {}, h("button", { id: "ddi-add",
                              onclick: () => save(newModel.value.trim(), newWaiting.value,
                                                  newSuffix.value) },
                  t("ddi_models.add")))));
  clear(section).append(
    h("h3", { id: "ddi-models-title" }, t("ddi_models.title")),
    h("p", { class: "note" }, t("ddi_models.intro")),
    h("div", { class: "grid-wrap" }, h("table", { class: "grid", id: "ddi-models-grid" },
      h("thead", {}, h("tr", {}, ["ddi_models.model", "ddi_models.devices",
        "ddi_models.waiting", "ddi_models.suffix", ""].map((k) => h("th", {}, k ? t(k) : "")))),
      h("tbody", {}, rows))),
    h("div", { id: "ddi-models-status", role: "status" }, status));
}
