// The admin API's error answers as one readable sentence in the user's language: the
// refusal's reason (refusal.<reason>, with its parameters), else its code (error.<code>), else
// what the server said. FastAPI's 422 detail is a list of {loc, msg}: which field, what was wrong.
import { t, translated } from "./i18n.js";

export function describe(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`)
      .join("; ");
  }
  return JSON.stringify(detail);
}

export function refusalText(body, detail) {
  const vars = { ...(body || {}), ...((body && body.params) || {}) };
  for (const [prefix, code] of [["refusal", body && body.reason], ["error", body && body.code]]) {
    const text = code ? translated(prefix, code, vars) : "";
    if (text && text !== code) return text;
  }
  if (Array.isArray(detail)) return `${t("error.invalid_request")} ${describe(detail)}`;
  return describe(detail);
}
