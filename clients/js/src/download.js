// Resumable, verified package download (docs/device-protocol.md §10.2).
//
// The bytes go into a `PackageStore` the app provides (a file on the device; `MemoryPackageStore`
// here, `FilePackageStore` in node.js). A cut connection resumes with `Range: bytes=n-` and
// `If-Range: "<sha256>"`; a 200 instead of 206 restarts from 0. Only a package of exactly
// `size` bytes whose SHA-256 is the directive's is handed to the installer.

import { Refusal, Stopped, backoffMs, refusalOf, sleep } from './api.js';
import { Sha256, toHex } from './sha256.js';

/**
 * Where the package's bytes are kept between attempts (and app restarts).
 * @typedef {object} PackageStore
 * @property {() => Promise<{sha256: string, size: number} | null>} info what is stored: the
 *   package it belongs to and how many bytes
 * @property {(sha256: string) => Promise<void>} begin drop what is stored, start this package
 * @property {(bytes: Uint8Array) => Promise<void>} append
 * @property {() => AsyncIterable<Uint8Array>} read the stored bytes, in order
 * @property {() => Promise<void>} discard drop everything
 */

/** The package's bytes do not match the directive (length or sha256). */
export class VerificationFailed extends Error {
  constructor(message) {
    super(message);
    this.name = 'VerificationFailed';
  }
}

/** A `PackageStore` in memory (tests, small packages, web views without file access). */
export class MemoryPackageStore {
  constructor() {
    /** @type {Uint8Array[]} */
    this.chunks = [];
    this.sha256 = null;
    this.size = 0;
  }

  async info() {
    return this.sha256 === null ? null : { sha256: this.sha256, size: this.size };
  }

  async begin(sha256) {
    this.chunks = [];
    this.sha256 = sha256;
    this.size = 0;
  }

  async append(bytes) {
    this.chunks.push(bytes.slice());
    this.size += bytes.length;
  }

  async* read() {
    yield* this.chunks;
  }

  async discard() {
    this.chunks = [];
    this.sha256 = null;
    this.size = 0;
  }

  /** @returns {Uint8Array} the stored bytes in one array */
  bytes() {
    const out = new Uint8Array(this.size);
    let offset = 0;
    for (const chunk of this.chunks) { out.set(chunk, offset); offset += chunk.length; }
    return out;
  }
}

/**
 * Download `directive`'s package into `store`, resuming after cuts, then verify it.
 * Throws `Refusal` for a 4xx (the caller decides: §3.2), `VerificationFailed` when the bytes
 * do not match (the store is discarded), `Stopped` when `signal` aborts.
 * @param {import('./api.js').DeviceApi} api
 * @param {import('./api.js').Directive} directive
 * @param {PackageStore} store
 * @param {{signal?: AbortSignal, stallMs?: number, onProgress?: (bytes: number) => void}} [options]
 * @returns {Promise<{resumes: number, restarts: number}>}
 */
export async function download(api, directive, store, options = {}) {
  const { signal, stallMs = 30000, onProgress } = options;
  const url = api.resolve(directive.url);
  const etag = `"${directive.sha256}"`;
  const held = await store.info();
  let stored = held?.size ?? 0;
  if (!held || held.sha256 !== directive.sha256 || held.size > directive.size) {
    await store.begin(directive.sha256);
    stored = 0;
  }
  let failures = 0;
  let resumes = 0;
  let restarts = 0;
  while (stored < directive.size) { // already complete from an earlier run: verify at once
    const headers = {};
    if (api.token && new URL(url).origin === api.origin) {
      headers.Authorization = `Bearer ${api.token}`; // §10.1: never to another origin
    }
    if (stored > 0) {
      headers.Range = `bytes=${stored}-`;
      headers['If-Range'] = etag;
      resumes += 1;
    }
    const controller = new AbortController();
    const stop = () => controller.abort();
    signal?.addEventListener('abort', stop, { once: true });
    let stall = setTimeout(stop, stallMs);
    try {
      const response = await api.fetch(url, { method: 'GET', headers, signal: controller.signal });
      if (response.status === 200) {
        if (stored > 0) restarts += 1;
        await store.begin(directive.sha256);
        stored = 0;
      } else if (response.status === 206) {
        const first = Number(/^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '')?.[1]);
        if (first !== stored) { // not the range asked for: start again cleanly
          await response.body?.cancel();
          await store.begin(directive.sha256);
          stored = 0;
          continue;
        }
      } else if (response.status === 416) {
        await response.body?.cancel();
        await store.begin(directive.sha256);
        stored = 0;
        continue;
      } else {
        const refusal = await refusalOf(response);
        if (response.status < 500 && response.status !== 429) throw refusal;
        throw Object.assign(new Error(refusal.message), { retryAfterS: refusal.retryAfterS });
      }
      for await (const chunk of bodyChunks(response)) {
        clearTimeout(stall);
        stall = setTimeout(stop, stallMs);
        const room = directive.size - stored;
        const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
        if (part.length) await store.append(part);
        stored += part.length;
        onProgress?.(stored);
        if (chunk.length > room) break; // more than the directive's size: verification decides
      }
      failures = 0;
      if (stored < directive.size) throw new Error('the connection ended before the package did');
    } catch (error) {
      if (error instanceof Refusal) throw error;
      if (signal?.aborted) throw new Stopped();
      failures += 1; // a cut: resume with what is stored (§10.2 step 4)
      await sleep(Math.max((error?.retryAfterS ?? 0) * 1000, backoffMs(failures, 30000)), signal);
    } finally {
      clearTimeout(stall);
      signal?.removeEventListener('abort', stop);
    }
  }
  await verify(directive, store);
  return { resumes, restarts };
}

/**
 * §10.2 step 5: exactly `size` bytes whose SHA-256 is the directive's; else the store is
 * discarded and `VerificationFailed` thrown.
 * @param {import('./api.js').Directive} directive
 * @param {PackageStore} store
 */
export async function verify(directive, store) {
  const hash = new Sha256();
  let length = 0;
  for await (const chunk of store.read()) {
    hash.update(chunk);
    length += chunk.length;
  }
  const digest = toHex(hash.digest());
  if (length !== directive.size || digest !== directive.sha256) {
    await store.discard();
    throw new VerificationFailed(length !== directive.size
      ? `the package has ${length} bytes, the directive says ${directive.size}`
      : `the package's sha256 is ${digest}, the directive says ${directive.sha256}`);
  }
}

/**
 * The response body as Uint8Array chunks (streamed where the platform can).
 * @param {Response} response
 */
async function* bodyChunks(response) {
  if (response.body && typeof response.body.getReader === 'function') {
    const reader = response.body.getReader();
    let finished = false;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) { finished = true; return; }
        yield value;
      }
    } finally {
      if (!finished) await reader.cancel().catch(() => {}); // close the connection
    }
  }
  yield new Uint8Array(await response.arrayBuffer()); // React Native: no streamed bodies
}
