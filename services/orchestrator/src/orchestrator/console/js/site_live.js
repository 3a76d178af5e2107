// Live page: the orchestrator pushes "changed" over server-sent events; a periodic refresh
// (every 30 s, the procedure's default) is the fallback when the stream is down.
// EventSource sends no headers, so the stream's URL carries a stream ticket (good for this
// site for a minute), asked for with the session each time the stream is opened — never the
// session token itself.
import { api } from "./api.js";

export const FALLBACK_REFRESH_MS = 30000;
export const REOPEN_MS = 3000;

export function watchSite(siteId, onChange, onState = () => {}) {
  let source = null;
  let stopped = false;
  let reopening = null;
  let lastFingerprint = null;
  const timer = setInterval(() => onChange(null), FALLBACK_REFRESH_MS);
  const site = encodeURIComponent(siteId);

  function reopenLater() {
    if (stopped || reopening) return;
    reopening = setTimeout(() => { reopening = null; open(); }, REOPEN_MS);
  }

  async function open() {
    if (stopped || !window.EventSource) return;
    let ticket;
    try {
      ticket = (await api("POST", `/sites/${site}/stream-tickets`)).ticket;
    } catch {
      onState("reconnecting");
      reopenLater();
      return;
    }
    if (stopped) return;
    source = new EventSource(`/api/v1/sites/${site}/stream?ticket=${encodeURIComponent(ticket)}`);
    source.addEventListener("open", () => onState("live"));
    source.addEventListener("error", () => {
      onState("reconnecting");
      // the browser retries with the same URL; once it gives up (the ticket expired), ask
      // for a new ticket
      if (source.readyState === EventSource.CLOSED) reopenLater();
    });
    source.addEventListener("ended", () => {  // the session ended: stop, let the API say so
      source.close();
      onState("reconnecting");
      onChange(null);
    });
    source.addEventListener("changed", (event) => {
      const change = JSON.parse(event.data);
      if (change.fingerprint === lastFingerprint) return;
      lastFingerprint = change.fingerprint;
      onChange(change);
    });
  }

  open();
  return () => {
    stopped = true;
    clearInterval(timer);
    if (reopening) clearTimeout(reopening);
    if (source) source.close();
  };
}
