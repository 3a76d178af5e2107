// The offline block / unblock codes, the device's side (docs/device-protocol.md §8), and the
// re-registration proof (§4.1). Pure: the clock and the random bytes are passed in.

import { hmacSha256, toHex, utf8 } from './sha256.js';

export const DIGITS = 6;
export const CHALLENGE_TTL_MS = 10 * 60 * 1000;
export const MAX_CODE2_ATTEMPTS = 3;

/** @typedef {'block' | 'unblock'} Action */

/**
 * digits(message) of §8.2: the first 8 bytes of HMAC-SHA256(secret, message) as an unsigned
 * big-endian integer, modulo 10**6, zero-padded to 6 digits.
 * @param {string} secret the device secret exactly as registration returned it
 * @param {string} message
 * @returns {string}
 */
export function digits(secret, message) {
  const mac = hmacSha256(utf8(secret), utf8(message));
  const view = new DataView(mac.buffer, mac.byteOffset, 8);
  const value = (BigInt(view.getUint32(0)) << 32n) | BigInt(view.getUint32(4));
  return (value % 1000000n).toString().padStart(DIGITS, '0');
}

/**
 * @param {string} secret
 * @param {Action} action
 * @param {string} code1
 * @returns {string} code 2 (what the server gives the admin)
 */
export function code2(secret, action, code1) {
  return digits(secret, `${action}|${code1}|2`);
}

/**
 * @param {string} secret
 * @param {Action} action
 * @param {string} code1
 * @param {string} c2
 * @returns {string} code 3 (what the device shows once it blocked or unblocked itself)
 */
export function code3(secret, action, code1, c2) {
  return digits(secret, `${action}|${code1}|${c2}|3`);
}

/**
 * A code as typed: spaces and dashes ignored; null when it is not then 6 ASCII digits.
 * @param {string} typed
 * @returns {string | null}
 */
export function normalizeTyped(typed) {
  const clean = String(typed).replace(/[\s-]/g, '');
  return /^[0-9]{6}$/.test(clean) ? clean : null;
}

/**
 * Code 1 from 8 random bytes (a uniformly drawn 64-bit integer modulo 10**6, §8.2).
 * @param {Uint8Array} randomBytes at least 8 bytes from a secure generator
 * @returns {string}
 */
export function code1FromRandom(randomBytes) {
  if (!randomBytes || randomBytes.length < 8) throw new Error('code 1 needs 8 random bytes');
  const view = new DataView(randomBytes.buffer, randomBytes.byteOffset, 8);
  const value = (BigInt(view.getUint32(0)) << 32n) | BigInt(view.getUint32(4));
  return (value % 1000000n).toString().padStart(DIGITS, '0');
}

/**
 * Lockstep-Secret-Proof of §4.1: lowercase hex HMAC-SHA256(secret, "register|site|serial").
 * @param {string} secret
 * @param {string} siteId
 * @param {string} serial
 * @returns {string}
 */
export function secretProof(secret, siteId, serial) {
  return toHex(hmacSha256(utf8(secret), utf8(`register|${siteId}|${serial}`)));
}

/** Code 2 refused on the device: wrong, expired, used, or tried too often (`reason`). */
export class CodeRefused extends Error {
  /**
   * @param {'wrong' | 'expired' | 'used' | 'too_many' | 'malformed'} reason
   * @param {string} message
   * @param {number} attemptsLeft
   */
  constructor(reason, message, attemptsLeft) {
    super(message);
    this.name = 'CodeRefused';
    this.reason = reason;
    this.attemptsLeft = attemptsLeft;
  }
}

/**
 * One manual block or unblock in progress on the device (§8.3): valid 10 minutes, at most 3
 * wrong code 2 entries, single use. Plain data so it can be persisted (`toJSON`/`from`).
 */
export class Challenge {
  /**
   * @param {{code1: string, action: Action, issuedAt: number, attempts?: number,
   *          code3?: string | null}} fields
   */
  constructor({ code1, action, issuedAt, attempts = 0, code3: shown = null }) {
    if (action !== 'block' && action !== 'unblock') {
      throw new Error(`action must be 'block' or 'unblock', got ${JSON.stringify(action)}`);
    }
    this.code1 = code1;
    this.action = action;
    this.issuedAt = issuedAt;
    this.attempts = attempts;
    this.code3 = shown;
  }

  /**
   * @param {Action} action
   * @param {Uint8Array} randomBytes 8 bytes from a secure generator
   * @param {number} nowMs
   */
  static issue(action, randomBytes, nowMs) {
    return new Challenge({ code1: code1FromRandom(randomBytes), action, issuedAt: nowMs });
  }

  /** @param {object} data what `toJSON` gave */
  static from(data) {
    return new Challenge(/** @type {any} */ (data));
  }

  toJSON() {
    return { code1: this.code1, action: this.action, issuedAt: this.issuedAt,
      attempts: this.attempts, code3: this.code3 };
  }

  /**
   * Verify code 2 offline. Right: returns code 3 (the caller then blocks or unblocks the
   * device and shows it). Wrong: throws `CodeRefused`.
   * @param {string} secret
   * @param {string} typed code 2 as the operator typed it
   * @param {number} nowMs
   * @returns {string}
   */
  answer(secret, typed, nowMs) {
    const left = MAX_CODE2_ATTEMPTS - this.attempts;
    if (this.code3 !== null) {
      throw new CodeRefused('used', 'this code 1 was already used: start a new manual '
        + `${this.action}`, left);
    }
    if (nowMs - this.issuedAt > CHALLENGE_TTL_MS) {
      throw new CodeRefused('expired', `code 1 expired: start a new manual ${this.action}`, left);
    }
    if (left <= 0) {
      throw new CodeRefused('too_many', `${MAX_CODE2_ATTEMPTS} wrong codes: start a new manual `
        + `${this.action}`, 0);
    }
    const clean = normalizeTyped(typed);
    if (clean === null) {
      throw new CodeRefused('malformed', 'code 2 has 6 digits', left);
    }
    const expected = code2(secret, this.action, this.code1);
    if (!sameText(expected, clean)) {
      this.attempts += 1;
      throw new CodeRefused('wrong', `wrong code 2 for ${this.action}: `
        + `${MAX_CODE2_ATTEMPTS - this.attempts} attempt(s) left`, MAX_CODE2_ATTEMPTS - this.attempts);
    }
    this.code3 = code3(secret, this.action, this.code1, clean);
    return this.code3;
  }
}

/** Constant-time comparison of two strings of equal length. */
function sameText(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
