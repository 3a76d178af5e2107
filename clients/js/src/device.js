// One device: keeps its long-poll open, runs the state machine (state.js) and performs its
// requests one at a time (docs/device-protocol.md §3–§12). Platform-neutral: the app passes
// `fetch`, a source of random bytes, where state and package bytes are kept, and how it hands
// in data and installs a package.

import { DeviceApi, Refusal, Stopped, backoffMs, sleep } from './api.js';
import { VerificationFailed, download } from './download.js';
import { stage } from './staging.js';
import { Challenge, CodeRefused, secretProof } from './offline-codes.js';
import { STOPPED, initialState, transition } from './state.js';

/**
 * What the app does itself.
 * @typedef {object} AppHooks
 * @property {() => Promise<number>} sendUnsentData send unsent business data to the business
 *   server through the app's own channel; how many records went
 * @property {(directive: import('./api.js').Directive,
 *   packages: import('./download.js').PackageStore) => Promise<void>} install install the
 *   verified package; throw when the install failed
 */

/**
 * Where the state is kept across restarts (§2.5): protected storage on a real device.
 * @typedef {object} StateStore
 * @property {() => Promise<any | null>} load
 * @property {(state: any) => Promise<void>} save
 */

/** A `StateStore` in memory. */
export class MemoryStateStore {
  constructor() { this.value = null; }
  async load() { return this.value === null ? null : structuredClone(this.value); }
  async save(state) { this.value = structuredClone(state); }
}

/**
 * @typedef {object} DeviceOptions
 * @property {string} baseUrl the gateway's base URL
 * @property {string} siteId
 * @property {string} enrolmentCode
 * @property {string} serial
 * @property {string} model
 * @property {string} appVersion the version of the app running now
 * @property {{code: string, name?: string, phone?: string}} [operator]
 * @property {boolean} [notificationsEnabled] false: no long-poll (§6.3)
 * @property {StateStore} store
 * @property {import('./download.js').PackageStore} packages
 * @property {AppHooks} app
 * @property {(n: number) => Uint8Array} random n bytes from a secure generator
 * @property {typeof fetch} [fetch]
 * @property {() => number} [now] milliseconds (Date.now)
 * @property {number} [waitS] long-poll wait (25)
 * @property {number} [checkEveryMs] update check while working (30 min)
 * @property {number} [silentCheckEveryMs] check while stopped with notifications off (60 s)
 * @property {number} [disabledRetryMs] a disabled device asks again (60 s)
 * @property {(device: Device) => void} [onChange] called after every state change
 * @property {(message: string) => void} [log]
 */

export class Device {
  /** @param {DeviceOptions} options */
  constructor(options) {
    this.options = { notificationsEnabled: true, waitS: 25, checkEveryMs: 30 * 60 * 1000,
      silentCheckEveryMs: 60000, disabledRetryMs: 60000, now: Date.now, ...options };
    this.abort = new AbortController();
    this.api = new DeviceApi({ baseUrl: options.baseUrl, fetch: options.fetch,
      signal: this.abort.signal });
    /** @type {import('./state.js').DeviceState} */
    this.state = initialState(options.appVersion);
    /** @type {{token: string, secret: string} | null} */
    this.credentials = null;
    /** @type {Challenge | null} */
    this.challenge = null;
    this.queue = [];
    this.busy = false; // the queue runner runs (set and cleared synchronously)
    this.working = null; // its promise
    this.registering = null;
    this.loops = [];
    this.running = false;
    this.retired = false; // the server no longer speaks this protocol version (§13)
    this.lastError = null;
  }

  get phase() { return this.state.phase; }

  // --- life cycle ----------------------------------------------------------------------------

  /** Load the stored state, register if needed, then run until `stop()`. */
  async start() {
    const saved = await this.options.store.load();
    if (saved) {
      this.state = saved.state;
      this.credentials = saved.credentials;
      this.challenge = saved.challenge ? Challenge.from(saved.challenge) : null;
      this.registrationKey = saved.registrationKey ?? null;
      this.api.token = this.credentials?.token ?? null;
    }
    this.running = true;
    if (this.state.phase === 'unregistered') await this.register();
    await this.dispatch({ type: 'app_started', appVersion: this.options.appVersion });
    if (this.options.notificationsEnabled) this.loops.push(this.#pollLoop());
    this.loops.push(this.#timer(this.options.checkEveryMs,
      () => this.dispatch({ type: 'periodic', notificationsOff: false })));
    if (!this.options.notificationsEnabled) {
      this.loops.push(this.#timer(this.options.silentCheckEveryMs,
        () => this.dispatch({ type: 'periodic', notificationsOff: true })));
    }
    this.loops.push(this.#disabledLoop());
  }

  async stop() {
    this.running = false;
    this.abort.abort();
    await Promise.allSettled([...this.loops, this.working]);
  }

  // --- registration (§4.1) -------------------------------------------------------------------

  /** Register (first start) or register again (after 401 invalid_token); one at a time. */
  register() {
    this.registering ??= this.#register().finally(() => { this.registering = null; });
    return this.registering;
  }

  async #register() {
    const o = this.options;
    this.registrationKey ??= uuid(o.random(16));
    await this.#save();
    const body = { site_id: o.siteId, enrolment_code: o.enrolmentCode, serial: o.serial,
      model: o.model, app_version: this.state.appVersion,
      notifications_enabled: o.notificationsEnabled };
    if (o.operator) body.operator = o.operator;
    const extra = { idempotencyKey: this.registrationKey,
      secretProof: this.credentials ? secretProof(this.credentials.secret, o.siteId, o.serial)
        : undefined };
    for (let attempt = 1; ; attempt++) {
      try {
        const answer = await this.api.register(body, extra);
        this.credentials = { token: answer.device_token, secret: answer.device_secret };
        this.api.token = answer.device_token;
        this.registrationKey = null;
        this.challenge = null; // a new secret kills an exchange in progress (§8.3)
        await this.#apply({ type: 'registered', updateRequired: answer.update_required,
          siteVersion: answer.site_version });
        return;
      } catch (error) {
        if (!(error instanceof Refusal)) throw error;
        if (await this.#retiredBy(error)) return;
        if (error.status === 403 && error.code === 'device_disabled') {
          await this.#apply({ type: 'disabled', detail: error.detail });
          return;
        }
        const again = error.status === 401 ? (attempt < 6 ? 5000 : null) // a new site arrives late
          : error.status === 403 ? 60000 // reregistration_refused: the admin approves
            : error.status === 429 ? (error.retryAfterS ?? 60) * 1000 : null;
        this.state = { ...this.state, problem: error.detail };
        this.#changed();
        if (again === null) throw error;
        await sleep(again, this.abort.signal);
      }
    }
  }

  /**
   * §10a: stage the site's next release in the background, when the device works and does
   * nothing else (the package store is the update's: never both at once). The app calls it
   * at start and every 30 minutes, and again after `retryAfterS` when told `busy`.
   * @returns {Promise<{outcome: 'staged' | 'nothing' | 'busy', version?: string,
   *   retryAfterS?: number}>}
   */
  async stage() {
    if (!this.running || this.busy || this.phase !== 'working') return { outcome: 'nothing' };
    this.busy = true; // the queue waits for the staging, as for any request
    try {
      return await stage(this.api, this.options.packages, { signal: this.abort.signal });
    } finally {
      this.busy = false;
      if (this.queue.length && this.running) {
        this.busy = true;
        this.working = this.#runQueue();
      }
    }
  }

  // --- what the operator does ----------------------------------------------------------------

  /** "Send unsent data" (§7.2). */
  handIn() { return this.dispatch({ type: 'hand_in_requested' }); }

  /** Retry an update that failed to download or install. */
  retryUpdate() { return this.dispatch({ type: 'retry_update' }); }

  /**
   * Start a manual block or unblock (§8): the code 1 to show.
   * @param {'block' | 'unblock'} action
   */
  async beginManual(action) {
    this.challenge = Challenge.issue(action, this.options.random(8), this.options.now());
    await this.#save();
    return this.challenge.code1;
  }

  /**
   * Code 2 as the operator typed it: verified offline; right → the device blocks or unblocks
   * itself and returns code 3 to show; wrong → throws `CodeRefused`.
   * @param {string} typed
   */
  async enterCode2(typed) {
    if (!this.challenge || !this.credentials) {
      throw new CodeRefused('used', 'no manual block or unblock in progress', 0);
    }
    try {
      const code3 = this.challenge.answer(this.credentials.secret, typed, this.options.now());
      await this.dispatch({ type: this.challenge.action === 'block' ? 'manual_blocked'
        : 'manual_unblocked' });
      return code3;
    } finally {
      await this.#save(); // attempts count across restarts
    }
  }

  // --- the state machine ---------------------------------------------------------------------

  /** Feed an event; store the new state; acknowledge; queue the other requests. */
  async dispatch(event) {
    const commands = await this.#apply(event);
    for (const command of commands) {
      if (command.type === 'ack') await this.#perform(command);
      else this.queue.push(command);
    }
    if (this.queue.length && !this.busy && this.running) {
      this.busy = true;
      this.working = this.#runQueue();
    }
  }

  async #apply(event) {
    const { state, commands } = transition(this.state, event);
    this.state = state;
    await this.#save();
    this.#changed();
    return commands;
  }

  async #runQueue() {
    try {
      while (this.queue.length && this.running) {
        const command = this.queue.shift();
        try {
          await this.#perform(command);
        } catch (error) {
          if (error instanceof Stopped) return;
          this.lastError = `${command.type}: ${error?.message ?? error}`;
          this.options.log?.(this.lastError);
        }
      }
    } finally {
      this.busy = false; // in the same turn as the loop's last look at the queue
    }
  }

  /** One command, with the refusals every endpoint shares (401, 403). */
  async #perform(command, reregistered = false) {
    try {
      const event = await this.#execute(command);
      if (event) await this.dispatch(event);
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      if (await this.#retiredBy(error)) return undefined;
      if (error.status === 401 && !reregistered) {
        await this.register();
        return this.#perform(command, true);
      }
      if (error.status === 403 && error.code === 'device_disabled') {
        await this.dispatch({ type: 'disabled', detail: error.detail });
        return undefined;
      }
      throw error;
    }
    return undefined;
  }

  async #execute(command) {
    const api = this.api;
    switch (command.type) {
      case 'ack':
        try {
          await api.ack(command.id);
        } catch (error) {
          if (!(error instanceof Refusal && error.code === 'unknown_notification')) throw error;
        }
        return null;
      case 'report_blocked':
        try {
          await api.blocked(command.updateId);
          return { type: 'blocked_reported' };
        } catch (error) {
          if (error instanceof Refusal && error.code === 'not_active_update') {
            return { type: 'blocked_refused', detail: error.detail };
          }
          throw error;
        }
      case 'hand_in': {
        const records = await this.options.app.sendUnsentData();
        try {
          const answer = await api.sync(command.updateId, records);
          return { type: 'synced', waiting: Boolean(answer.waiting_for_update) };
        } catch (error) {
          if (error instanceof Refusal && error.code === 'sync_refused') {
            return { type: 'sync_refused', detail: error.detail };
          }
          if (error instanceof Refusal && error.code === 'not_active_update') {
            return { type: 'sync_unknown_update' };
          }
          throw error;
        }
      }
      case 'fetch_directive':
        if (command.delayMs) await sleep(command.delayMs, this.abort.signal);
        try {
          return { type: 'directive', mode: command.mode, directive: await api.directive() };
        } catch (error) {
          if (error instanceof Refusal && error.status === 409) {
            return { type: 'directive', mode: command.mode, directive: null, inPreparation: true };
          }
          throw error;
        }
      case 'download':
        try {
          await download(api, command.directive, this.options.packages,
            { signal: this.abort.signal });
          return { type: 'download_verified' };
        } catch (error) {
          if (error instanceof VerificationFailed) {
            return { type: 'download_failed', detail: error.message };
          }
          if (error instanceof Refusal && (error.status === 404 || error.status === 409
              || error.status === 416)) {
            return { type: 'download_stale', detail: error.detail };
          }
          throw error;
        }
      case 'install':
        try {
          await this.options.app.install(command.directive, this.options.packages);
        } catch (error) {
          return { type: 'install_failed', detail: String(error?.message ?? error) };
        }
        await this.options.packages.discard();
        return { type: 'installed', version: command.directive.version };
      case 'report_version':
        await api.version(command.version);
        return { type: 'version_reported', version: command.version };
      default:
        throw new Error(`unknown command ${JSON.stringify(command)}`);
    }
  }

  // --- loops ---------------------------------------------------------------------------------

  async #pollLoop() {
    let failures = 0;
    while (this.running) {
      if (this.state.phase === 'disabled' || this.state.phase === 'unregistered') {
        await this.#pause(1000);
        continue;
      }
      try {
        const notifications = await this.api.poll(this.options.waitS);
        failures = 0;
        for (const notification of notifications) {
          await this.dispatch({ type: 'notification', notification });
        }
      } catch (error) {
        if (error instanceof Stopped || !this.running) return;
        if (await this.#retiredBy(error)) return;
        if (error instanceof Refusal && error.status === 401) {
          await this.#guard(() => this.register());
          continue;
        }
        if (error instanceof Refusal && error.code === 'device_disabled') {
          await this.dispatch({ type: 'disabled', detail: error.detail });
          continue;
        }
        failures += 1;
        this.lastError = `long-poll: ${error?.message ?? error}`;
        await this.#pause(backoffMs(failures));
      }
    }
  }

  async #disabledLoop() {
    while (this.running) {
      await this.#pause(this.state.phase === 'disabled' ? this.options.disabledRetryMs : 1000);
      if (this.state.phase !== 'disabled' || !this.running) continue;
      try {
        await this.api.directive();
        await this.dispatch({ type: 'enabled' });
      } catch (error) {
        if (await this.#retiredBy(error)) return;
        if (error instanceof Refusal && error.code !== 'device_disabled' && error.status < 500) {
          await this.dispatch({ type: 'enabled' }); // answered something else: enabled again
        }
      }
    }
  }

  async #timer(everyMs, tick) {
    while (this.running) {
      await this.#pause(everyMs);
      if (this.running && !this.busy) await this.#guard(tick);
    }
  }

  /**
   * §13: `410 protocol_retired` — this server no longer speaks v1. The device stops (no more
   * requests) and shows the detail: the operator updates the app from the vendor's store.
   */
  async #retiredBy(error) {
    if (!(error instanceof Refusal && error.status === 410)) return false;
    if (!this.retired) {
      this.retired = true;
      this.state = { ...this.state, problem: error.detail };
      this.running = false;
      this.abort.abort();
      await this.#save();
      this.#changed();
    }
    return true;
  }

  async #pause(ms) {
    try { await sleep(ms, this.abort.signal); } catch { /* stopped */ }
  }

  async #guard(fn) {
    try { await fn(); } catch (error) {
      if (!(error instanceof Stopped)) this.lastError = String(error?.message ?? error);
    }
  }

  async #save() {
    await this.options.store.save({ state: this.state, credentials: this.credentials,
      challenge: this.challenge?.toJSON() ?? null, registrationKey: this.registrationKey ?? null });
  }

  #changed() {
    this.options.onChange?.(this);
  }

  /** Whether the operator may create business data now. */
  get stopped() { return STOPPED.has(this.state.phase) || this.state.phase === 'disabled'; }
}

/** A UUID v4 from 16 random bytes. */
export function uuid(bytes) {
  const b = Uint8Array.from(bytes);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
