import { describe } from "./api_detail.js";

// Login (S1): POST /api/v1/sessions → bearer token kept in sessionStorage (this tab only).
const KEY = "lockstep.session";

export function currentSession() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch {
    return null;
  }
}

export function forgetSession() { sessionStorage.removeItem(KEY); }

export async function logIn(username, password) {
  const response = await fetch("/api/v1/sessions", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ username, password }),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.detail ? describe(data.detail) : response.statusText);
    error.status = response.status;
    error.retryAfter = response.headers.get("Retry-After");
    throw error;
  }
  const session = {
    token: data.token, username: data.username || username, role: data.role,
    sites: data.sites || [], expires_at: data.expires_at, language: data.language || null,
  };
  sessionStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

export async function logOut() {
  const session = currentSession();
  forgetSession();
  if (!session) return;
  await fetch("/api/v1/sessions/current", {
    method: "DELETE", headers: { Authorization: `Bearer ${session.token}` },
  }).catch(() => {});
}

export const canManage = (session) => session && session.role === "admin";
export const isSupport = (session) => session && session.role === "support";
