// Live page: the orchestrator pushes "changed" over server-sent events; a periodic refresh
// (every 30 s, the procedure's default) is the fallback when the stream is down.
export const FALLBACK_REFRESH_MS = 30000;

export function watchSite(siteId, token, onChange, onState = () => {}) {
  let source = null;
  let lastFingerprint = null;
  const timer = setInterval(() => onChange(null), FALLBACK_REFRESH_MS);
  if (window.EventSource) {
    const url = `/api/v1/sites/${encodeURIComponent(siteId)}/stream?token=${
      encodeURIComponent(token)}`;
    source = new EventSource(url);
    source.addEventListener("open", () => onState("live"));
    source.addEventListener("error", () => onState("reconnecting"));
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
  return () => {
    clearInterval(timer);
    if (source) source.close();
  };
}
