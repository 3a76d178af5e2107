// Lockstep device client, protocol v1 (docs/device-protocol.md). Platform-neutral core:
// `fetch`, `TextEncoder`, `BigInt` and `AbortController`; nothing from Node (see node.js).

export { DeviceApi, PREFIX, Refusal, Stopped, Unreachable, backoffMs, parseDirective } from './api.js';
export { Device, MemoryStateStore, uuid } from './device.js';
export { MemoryPackageStore, VerificationFailed, download, verify } from './download.js';
export {
  CHALLENGE_TTL_MS, Challenge, CodeRefused, MAX_CODE2_ATTEMPTS, code1FromRandom, code2, code3,
  digits, normalizeTyped, secretProof,
} from './offline-codes.js';
export { Sha256, hmacSha256, sha256, toHex, utf8 } from './sha256.js';
export { stage } from './staging.js';
export { STOPPED, initialState, resume, transition } from './state.js';
