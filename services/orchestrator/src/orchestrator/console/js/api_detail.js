// The admin API's error answers as one readable sentence.
// FastAPI's 422 detail is a list of {loc, msg}: say which field and what was wrong
export function describe(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`)
      .join("; ");
  }
  return JSON.stringify(detail);
}
