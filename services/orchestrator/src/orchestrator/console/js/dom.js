import { currentLanguage } from "./i18n.js";

// Building DOM without innerHTML: h("button", {class: "primary", onclick}, "text", child…)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "style") {  // through the CSSOM: the CSP refuses style attributes
      el.style.cssText = String(value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// the site's time zone (an IANA name, a site setting): every date and time of the site
let timeZone = "UTC";
export function useTimeZone(zone) {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    timeZone = zone;
  } catch {
    timeZone = "UTC";  // a zone this browser does not know
  }
  return timeZone;
}
export const currentTimeZone = () => timeZone;
const known = (zone) => {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return zone;
  } catch {
    return timeZone;  // a zone this browser does not know: the chosen site's
  }
};

// dates and times in the user's language (an Italian reads 12/3/2026 as 12 March) and the
// site's time zone (``zone``: another site's, in the vendor's view across sites)
export function when(value, zone = timeZone) {
  if (!value) return "—";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value)
    : date.toLocaleString(currentLanguage(), { dateStyle: "short", timeStyle: "medium",
                                               timeZone: known(zone) });
}

// how far the zone's wall clock is ahead of UTC at that moment (ms)
function zoneOffset(utcMs, zone) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(new Date(utcMs)).map((p) => [p.type, p.value]));
  return Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute,
                  +parts.second) - utcMs;
}

// a <input type="datetime-local"> value read as the site's wall clock → ISO 8601 in UTC
export function zonedToIso(local, zone = timeZone) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(local || "");
  if (!m) return "";
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  const first = wall - zoneOffset(wall, zone);
  return new Date(wall - zoneOffset(first, zone)).toISOString();
}

// "3 minutes ago", in the user's language
export function since(value, now = Date.now()) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return "—";
  const seconds = Math.round((date.getTime() - now) / 1000);
  const format = new Intl.RelativeTimeFormat(currentLanguage(), { numeric: "auto" });
  for (const [unit, size] of [["day", 86400], ["hour", 3600], ["minute", 60]]) {
    if (Math.abs(seconds) >= size) return format.format(Math.round(seconds / size), unit);
  }
  return format.format(Math.min(0, seconds), "second");
}
