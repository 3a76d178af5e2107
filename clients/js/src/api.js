// The device API, one function per endpoint (docs/device-protocol.md §4–§11), over `fetch`.
// Transient failures (no connection, timeout, 5xx, 429) are retried here with the backoff of
// §2.4; a 4xx answer is thrown as a `Refusal` for the caller to decide.

export const PREFIX = '/device/v1';

/** A 4xx (or a final 5xx) answer: `status`, `code` (may be null), `detail`, the whole `body`. */
export class Refusal extends Error {
  /**
   * @param {number} status
   * @param {string | null} code
   * @param {string} detail
   * @param {any} body
   * @param {number | null} retryAfterS
   */
  constructor(status, code, detail, body, retryAfterS) {
    super(`HTTP ${status}${code ? ` ${code}` : ''}: ${detail}`);
    this.name = 'Refusal';
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.body = body;
    this.retryAfterS = retryAfterS;
  }
}

/** The request kept failing transiently (only when a retry budget was given). */
export class Unreachable extends Error {
  constructor(message) {
    super(message);
    this.name = 'Unreachable';
  }
}

/** The request was stopped by its `AbortSignal` (the device is shutting down). */
export class Stopped extends Error {
  constructor() {
    super('stopped');
    this.name = 'Stopped';
  }
}

/**
 * Backoff before attempt `n + 1` (n ≥ 1): min(0.5 s × 2^(n-1), capMs), ±20 % jitter.
 * @param {number} n
 * @param {number} [capMs]
 * @param {() => number} [random]
 */
export function backoffMs(n, capMs = 30000, random = Math.random) {
  const base = Math.min(500 * 2 ** Math.max(n - 1, 0), capMs);
  return Math.round(base * (0.8 + 0.4 * random()));
}

/**
 * @param {number} ms
 * @param {AbortSignal} [signal]
 */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(new Stopped()); return; }
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); },
      ms);
    function onAbort() { clearTimeout(timer); reject(new Stopped()); }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * @typedef {object} ApiOptions
 * @property {string} baseUrl the gateway's base URL (scheme, host, port, optional path prefix)
 * @property {typeof fetch} [fetch]
 * @property {AbortSignal} [signal] stops every request and every wait
 * @property {number} [timeoutMs] HTTP timeout of a request that is not a long-poll (30 s)
 * @property {() => number} [random] for the jitter (Math.random)
 */

export class DeviceApi {
  /** @param {ApiOptions} options */
  constructor(options) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.origin = new URL(this.baseUrl).origin;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.signal = options.signal;
    this.timeoutMs = options.timeoutMs ?? 30000;
    this.random = options.random ?? Math.random;
    /** @type {string | null} */
    this.token = null;
  }

  /**
   * One request, retried while the failure is transient.
   * @param {string} method
   * @param {string} url absolute, or a path under the base URL
   * @param {{body?: any, headers?: Record<string,string>, timeoutMs?: number,
   *          auth?: boolean, attempts?: number}} [options]
   * @returns {Promise<Response>} a 2xx response (its body unread)
   */
  async request(method, url, options = {}) {
    const { body, headers = {}, timeoutMs = this.timeoutMs, auth = true,
      attempts = Infinity } = options;
    const target = this.resolve(url);
    const sent = { ...headers };
    if (auth && this.token && new URL(target).origin === this.origin) {
      sent.Authorization = `Bearer ${this.token}`; // §10.1: never to another origin
    }
    if (body !== undefined) sent['Content-Type'] = 'application/json';
    let last = 'no attempt';
    for (let attempt = 1; ; attempt++) {
      let waitMs = 0;
      try {
        const response = await this.#once(method, target, sent, body, timeoutMs);
        if (response.ok) return response;
        const refusal = await refusalOf(response);
        if (response.status < 500 && response.status !== 429) throw refusal;
        last = refusal.message;
        waitMs = (refusal.retryAfterS ?? 0) * 1000;
        if (attempt >= attempts) throw refusal;
      } catch (error) {
        if (error instanceof Refusal) throw error;
        if (this.signal?.aborted) throw new Stopped();
        last = `${error?.name}: ${error?.message}`;
        if (attempt >= attempts) throw new Unreachable(`${method} ${target}: ${last}`);
      }
      await sleep(Math.max(waitMs, backoffMs(attempt, 30000, this.random)), this.signal);
    }
  }

  async #once(method, target, headers, body, timeoutMs) {
    const controller = new AbortController();
    const stop = () => controller.abort();
    this.signal?.addEventListener('abort', stop, { once: true });
    const timer = setTimeout(stop, timeoutMs);
    try {
      const response = await this.fetch(target, {
        method, headers, signal: controller.signal,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return response; // the timeout covers the headers; bodies here are small (downloads
      // have their own stall timeout, download.js)
    } finally {
      clearTimeout(timer);
      this.signal?.removeEventListener('abort', stop);
    }
  }

  /** @param {string} url */
  resolve(url) {
    return new URL(url, this.baseUrl + '/').toString();
  }

  // --- endpoints ---------------------------------------------------------------------------

  /**
   * §4.1. Transient failures are retried like every request (§2.4).
   * @param {object} body
   * @param {{idempotencyKey?: string, secretProof?: string}} [extra]
   */
  async register(body, extra = {}) {
    const headers = {};
    if (extra.idempotencyKey) headers['Idempotency-Key'] = extra.idempotencyKey;
    if (extra.secretProof) headers['Lockstep-Secret-Proof'] = extra.secretProof;
    const response = await this.request('POST', `${PREFIX}/registrations`,
      { body, headers, auth: false });
    return response.json();
  }

  /**
   * §5.2: one long-poll; [] when nothing came within `waitS`.
   * @param {number} waitS
   * @returns {Promise<Array<{id: string, kind: string, update_id: string, created_at: string}>>}
   */
  async poll(waitS) {
    const response = await this.request('GET', `${PREFIX}/notifications?wait=${waitS}`,
      { timeoutMs: (waitS + 20) * 1000, attempts: 1 });
    const body = await response.json();
    return Array.isArray(body?.notifications) ? body.notifications : [];
  }

  /** §5.3 @param {string} id */
  async ack(id) {
    await this.request('POST', `${PREFIX}/notifications/${encodeURIComponent(id)}/ack`);
  }

  /** §7.1 @param {string} updateId */
  async blocked(updateId) {
    await this.request('POST', `${PREFIX}/blocked`, { body: { update_id: updateId } });
  }

  /**
   * §7.2
   * @param {string | null} updateId
   * @param {number} records
   * @returns {Promise<{accepted: boolean, waiting_for_update: boolean}>}
   */
  async sync(updateId, records) {
    const response = await this.request('POST', `${PREFIX}/sync`,
      { body: { update_id: updateId, records } });
    return response.json();
  }

  /**
   * §9.1: the directive, or null for 204. A 409 is thrown as a Refusal.
   * @returns {Promise<Directive | null>}
   */
  async directive() {
    const response = await this.request('GET', `${PREFIX}/update`);
    if (response.status === 204) return null;
    return parseDirective(await response.json());
  }

  /**
   * §10a.1: a staging slot and the package to stage, or null for 204 (nothing to stage). A
   * `429 staging_busy` is thrown at once as a Refusal (its `retryAfterS` says when to ask).
   * @returns {Promise<Directive | null>}
   */
  async staging() {
    const response = await this.request('POST', `${PREFIX}/staging`, { attempts: 1 });
    if (response.status === 204) return null;
    return parseDirective({ update_id: null, reason: 'staging', ...(await response.json()) });
  }

  /** §10a.3: the staged package is verified and kept. @param {string} sha256 */
  async staged(sha256) {
    await this.request('POST', `${PREFIX}/staged`, { body: { sha256 } });
  }

  /** §11.1 @param {string} appVersion */
  async version(appVersion) {
    await this.request('POST', `${PREFIX}/version`, { body: { app_version: appVersion } });
  }
}

/**
 * @typedef {object} Directive
 * @property {string | null} update_id
 * @property {'update' | 'site_version'} reason
 * @property {string} version
 * @property {number} size
 * @property {string} sha256 lowercase hex
 * @property {string} url
 * @property {boolean} staged the device staged this package already (§10a): no download
 */

/** @returns {Directive} */
export function parseDirective(body) {
  const sha256 = String(body?.sha256 ?? '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(sha256) || !Number.isSafeInteger(body?.size) || body.size < 0
      || typeof body?.version !== 'string' || typeof body?.url !== 'string') {
    throw new Error(`malformed update directive: ${JSON.stringify(body).slice(0, 300)}`);
  }
  return { update_id: body.update_id ?? null, reason: body.reason, version: body.version,
    size: body.size, sha256, url: body.url, staged: body.staged === true };
}

/** @param {Response} response */
export async function refusalOf(response) {
  let body = null;
  let detail = '';
  try {
    const text = await response.text();
    try { body = JSON.parse(text); } catch { detail = text.slice(0, 300); }
  } catch { /* no body */ }
  if (body && typeof body === 'object') detail = String(body.detail ?? JSON.stringify(body));
  const retryAfter = Number(response.headers.get('retry-after'));
  return new Refusal(response.status, body && typeof body.code === 'string' ? body.code : null,
    detail, body, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null);
}
