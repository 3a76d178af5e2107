// The admin API (/api/v1) with the session's bearer token; errors carry the API's "detail".
import { describe, refusalText } from "./api_detail.js";
import { currentSession, forgetSession } from "./session.js";

export class ApiError extends Error {
  constructor(status, detail, body) {
    super(refusalText(body, detail));  // in the user's language
    this.status = status;
    this.body = body || {};
    this.serverSaid = describe(detail);  // the server's own (English) words
  }
}

let onUnauthorized = () => {};
export function whenUnauthorized(handler) { onUnauthorized = handler; }

export async function api(method, path, body, accept = "application/json") {
  const session = currentSession();
  const headers = { Accept: accept };
  if (session) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/api/v1${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (response.ok && accept !== "application/json") return text;
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  if (!response.ok) {
    // the session is gone only when the API says so (WWW-Authenticate: Bearer); a 401 for a
    // wrong re-entered password (U7) keeps the admin signed in
    const sessionLost = response.headers.get("WWW-Authenticate");
    if (response.status === 401 && session && sessionLost) {
      forgetSession();
      onUnauthorized();
    }
    throw new ApiError(response.status, data && data.detail ? data.detail : response.statusText,
                       data);
  }
  return data;
}

// 404 → null (e.g. "no active update")
export async function apiOrNull(method, path, body) {
  try {
    return await api(method, path, body);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}
