// The device's state machine of docs/device-protocol.md §3: `transition(state, event)` returns
// the next state and the requests to make, in order. Pure (no I/O, no clock): the driver
// (device.js) stores the state, then performs the commands and feeds their results back as
// events. The state is plain JSON so the app can persist it (§2.5).

/**
 * @typedef {'unregistered' | 'working' | 'checking' | 'stopping' | 'blocked' | 'waiting'
 *   | 'refused' | 'updating' | 'downloading' | 'installing' | 'reporting' | 'update_failed'
 *   | 'disabled'} Phase
 *
 * @typedef {object} DeviceState
 * @property {Phase} phase
 * @property {string | null} updateId the update the device's state belongs to ("current")
 * @property {'start' | 'codes' | null} blockedBy
 * @property {boolean} blockReported POST /blocked answered for updateId
 * @property {boolean} handedIn POST /sync accepted since blocking
 * @property {number} blockRounds re-reports after `waiting_for_update: false` (at most 3)
 * @property {boolean} inPreparation the directive answered 409 since END
 * @property {number} directiveAttempts
 * @property {number} verifyFailures
 * @property {import('./api.js').Directive | null} directive
 * @property {string} appVersion the version running now
 * @property {string | null} reportedVersion the last version registered or reported
 * @property {string | null} siteVersion
 * @property {string | null} problem what to show the operator, if anything
 * @property {Phase | null} beforeDisabled
 * @property {string[]} seen ids of the notifications acted on (the last 100)
 *
 * @typedef {{type: 'ack', id: string}
 *   | {type: 'report_blocked', updateId: string}
 *   | {type: 'hand_in', updateId: string | null}
 *   | {type: 'fetch_directive', mode: 'check' | 'update' | 'silent', delayMs: number}
 *   | {type: 'download', directive: import('./api.js').Directive}
 *   | {type: 'install', directive: import('./api.js').Directive}
 *   | {type: 'report_version', version: string}} Command
 */

export const STOPPED = new Set(['stopping', 'blocked', 'waiting', 'refused', 'updating',
  'downloading', 'installing', 'reporting', 'update_failed']);
const STOPPED_FOR_BARRIER = new Set(['stopping', 'blocked', 'waiting', 'refused']);
const INSTALLING = new Set(['updating', 'downloading', 'installing', 'reporting']);
const SEEN_KEPT = 100;
const MAX_BLOCK_ROUNDS = 3;
const MAX_VERIFY_FAILURES = 3;

/**
 * @param {string} appVersion
 * @returns {DeviceState}
 */
export function initialState(appVersion) {
  return {
    phase: 'unregistered', updateId: null, blockedBy: null, blockReported: false,
    handedIn: false, blockRounds: 0, inPreparation: false, directiveAttempts: 0,
    verifyFailures: 0, directive: null, appVersion, reportedVersion: null, siteVersion: null,
    problem: null, beforeDisabled: null, seen: [],
  };
}

/** Delay before asking for the directive again while it answers 409 after END (§2.4). */
export function directiveRetryMs(attempt) {
  return Math.min(500 * 2 ** Math.max(attempt - 1, 0), 10000);
}

/**
 * @param {DeviceState} state
 * @param {any} event
 * @returns {{state: DeviceState, commands: Command[]}}
 */
export function transition(state, event) {
  const s = { ...state, seen: [...state.seen] };
  const out = (/** @type {Command[]} */ commands = []) => ({ state: s, commands });
  switch (event.type) {
    case 'registered':
      s.siteVersion = event.siteVersion ?? null;
      s.reportedVersion = s.appVersion;
      if (s.phase !== 'unregistered') return out(); // registered again: same state
      if (event.updateRequired) {
        s.phase = 'checking';
        return out([fetch('check')]);
      }
      s.phase = 'working';
      return out();

    case 'app_started': {
      s.appVersion = event.appVersion ?? s.appVersion;
      const commands = [];
      if (s.phase === 'unregistered' || s.phase === 'disabled') return out();
      if (s.reportedVersion !== null && s.reportedVersion !== s.appVersion
          && s.phase !== 'reporting') {
        commands.push({ type: 'report_version', version: s.appVersion });
      }
      if (s.phase === 'working' || s.phase === 'checking') {
        s.phase = 'checking';
        commands.push(fetch('check'));
        return out(commands);
      }
      return out([...commands, ...resume(s)]);
    }

    case 'periodic': {
      if (s.phase === 'working') {
        s.phase = 'checking';
        return out([fetch('check')]);
      }
      // blocked by codes, not yet confirmed waiting: the admin may not have typed code 3 when
      // it handed in (the server counts the block from then): hand in again (§8.1)
      const commands = unconfirmedCodesBlock(s) ? [handIn(null)] : [];
      if (event.notificationsOff && (STOPPED_FOR_BARRIER.has(s.phase) || s.phase === 'updating')) {
        commands.push(fetch('silent'));
      }
      return out(commands);
    }

    case 'notification':
      return onNotification(s, event.notification);

    case 'blocked_reported':
    case 'blocked_refused':
      s.blockReported = true;
      if (s.phase === 'stopping') s.phase = 'blocked';
      if (s.phase === 'blocked' && !s.handedIn) return out([handIn(s.updateId)]);
      return out();

    case 'hand_in_requested':
      if (s.phase === 'working' || s.phase === 'checking') return out([handIn(null)]);
      if (STOPPED_FOR_BARRIER.has(s.phase)) return out([handIn(s.updateId)]);
      return out();

    case 'synced':
      return onSynced(s, event.waiting);

    case 'sync_refused':
      if (STOPPED_FOR_BARRIER.has(s.phase)) {
        s.phase = 'refused';
        s.problem = event.detail;
        return out();
      }
      if (s.phase === 'working') { // the site runs another version now: catch up (§9.2)
        s.phase = 'checking';
        return out([fetch('check')]);
      }
      return out();

    case 'sync_unknown_update':
      s.updateId = null;
      return out([handIn(null)]);

    case 'directive':
      return onDirective(s, event);

    case 'download_verified':
      if (s.phase !== 'downloading') return out();
      s.phase = 'installing';
      return out([{ type: 'install', directive: /** @type {any} */ (s.directive) }]);

    case 'download_failed':
      if (s.phase !== 'downloading') return out();
      s.verifyFailures += 1;
      if (s.verifyFailures >= MAX_VERIFY_FAILURES) {
        s.phase = 'update_failed';
        s.problem = `the package did not verify ${s.verifyFailures} times: ${event.detail}`;
        return out();
      }
      s.phase = 'updating';
      return out([fetch('update')]);

    case 'download_stale':
      if (s.phase !== 'downloading') return out();
      s.phase = 'updating';
      s.directiveAttempts += 1;
      return out([fetch('update', directiveRetryMs(s.directiveAttempts))]);

    case 'installed':
      if (s.phase !== 'installing') return out();
      s.appVersion = event.version;
      s.phase = 'reporting';
      return out([{ type: 'report_version', version: event.version }]);

    case 'install_failed':
      if (s.phase !== 'installing') return out();
      s.phase = 'update_failed';
      s.problem = `the install failed: ${event.detail}`;
      return out();

    case 'version_reported':
      s.reportedVersion = event.version;
      if (s.phase === 'reporting') backToWork(s);
      return out();

    case 'retry_update':
      if (s.phase !== 'update_failed') return out();
      s.phase = 'updating';
      s.verifyFailures = 0;
      s.problem = null;
      return out([fetch('update')]);

    case 'manual_blocked':
      if (s.phase !== 'working' && s.phase !== 'checking') return out();
      s.phase = 'blocked';
      s.blockedBy = 'codes';
      s.updateId = null;
      s.blockReported = true;
      s.handedIn = false;
      s.blockRounds = 0;
      return out([handIn(null)]);

    case 'manual_unblocked':
      if (STOPPED_FOR_BARRIER.has(s.phase)) backToWork(s);
      return out();

    case 'disabled':
      if (s.phase !== 'disabled') {
        s.beforeDisabled = s.phase;
        s.phase = 'disabled';
        s.problem = event.detail ?? 'this device is disabled at its site';
      }
      return out();

    case 'enabled':
      if (s.phase !== 'disabled') return out();
      s.phase = s.beforeDisabled ?? 'working';
      s.beforeDisabled = null;
      s.problem = null;
      return out(resume(s));

    default:
      throw new Error(`unknown event ${JSON.stringify(event.type)}`);
  }
}

/** The requests that carry on the phase the device is in (after a restart or re-enabling). */
export function resume(s) {
  switch (s.phase) {
    case 'stopping': return [{ type: 'report_blocked', updateId: /** @type {string} */ (s.updateId) }];
    case 'blocked': return s.handedIn ? [] : [handIn(s.updateId)];
    case 'checking': return [fetch('check')];
    case 'updating': return [fetch('update')];
    case 'downloading': return s.directive ? [{ type: 'download', directive: s.directive }] : [fetch('update')];
    case 'installing': return s.directive ? [{ type: 'install', directive: s.directive }] : [fetch('update')];
    case 'reporting': return [{ type: 'report_version', version: s.appVersion }];
    default: return [];
  }
}

function onNotification(s, n) {
  const ack = { type: 'ack', id: String(n.id) };
  const out = (commands = []) => ({ state: s, commands: [ack, ...commands] });
  if (s.seen.includes(ack.id)) return out(); // a duplicate: acknowledge it again, nothing more
  s.seen = [...s.seen, ack.id].slice(-SEEN_KEPT);
  const current = n.update_id === s.updateId;
  switch (n.kind) {
    case 'start':
      if (current && (INSTALLING.has(s.phase) || s.phase === 'update_failed')) return out();
      if (current && STOPPED_FOR_BARRIER.has(s.phase)) { // sent again: finish what is missing
        if (!s.blockReported) return out([{ type: 'report_blocked', updateId: n.update_id }]);
        return out(s.handedIn ? [] : [handIn(s.updateId)]);
      }
      Object.assign(s, { phase: 'stopping', updateId: n.update_id, blockedBy: 'start',
        blockReported: false, handedIn: false, blockRounds: 0, problem: null });
      return out([{ type: 'report_blocked', updateId: n.update_id }]);
    case 'end':
      if (INSTALLING.has(s.phase)) return out();
      Object.assign(s, { phase: 'updating', updateId: n.update_id, inPreparation: false,
        directiveAttempts: 0, verifyFailures: 0, problem: null });
      return out([fetch('update')]);
    case 'error':
      if (STOPPED_FOR_BARRIER.has(s.phase) || (s.phase === 'updating' && s.inPreparation)) {
        backToWork(s);
      }
      return out();
    default:
      return out(); // a kind v1 does not have: acknowledged, ignored (§3.2)
  }
}

/** Blocked by codes, and no hand-in the server counted as waiting yet. */
function unconfirmedCodesBlock(s) {
  return s.phase === 'blocked' && s.blockedBy === 'codes' && !s.handedIn;
}

function onSynced(s, waiting) {
  s.handedIn = true;
  if (s.phase === 'working') { // normal work: ask whether something must be installed
    s.phase = 'checking';
    return { state: s, commands: [fetch('check')] };
  }
  if (s.phase !== 'blocked' && s.phase !== 'stopping') return { state: s, commands: [] };
  if (waiting) {
    s.phase = 'waiting';
    s.problem = null;
    return { state: s, commands: [] };
  }
  s.phase = 'blocked';
  if (s.blockedBy === 'codes') { // hand in again at the next periodic check (§8.1)
    s.handedIn = false;
    return { state: s, commands: [] };
  }
  if (s.blockedBy === 'start' && s.updateId !== null && s.blockRounds < MAX_BLOCK_ROUNDS) {
    s.blockRounds += 1; // the server has not recorded the block: report it, hand in again
    s.blockReported = false;
    s.handedIn = false;
    return { state: s, commands: [{ type: 'report_blocked', updateId: s.updateId }] };
  }
  if (s.blockedBy === 'start') s.problem = 'not confirmed as waiting: contact the site admin';
  return { state: s, commands: [] };
}

function onDirective(s, event) {
  const none = { state: s, commands: [] };
  if (event.mode === 'check') {
    if (s.phase !== 'checking') return none;
    if (event.directive) return startDownload(s, event.directive);
    s.phase = 'working';
    return none;
  }
  if (event.mode === 'silent') {
    if (!event.directive || !(STOPPED_FOR_BARRIER.has(s.phase) || s.phase === 'updating')) {
      return none;
    }
    s.updateId = event.directive.update_id ?? s.updateId;
    return startDownload(s, event.directive);
  }
  if (s.phase !== 'updating') return none;
  if (event.directive) return startDownload(s, event.directive);
  if (event.inPreparation) {
    s.inPreparation = true;
    s.directiveAttempts += 1;
    return { state: s, commands: [fetch('update', directiveRetryMs(s.directiveAttempts))] };
  }
  backToWork(s); // 204: already on the version to install
  return none;
}

function startDownload(s, directive) {
  s.phase = 'downloading';
  s.directive = directive;
  return { state: s, commands: [{ type: 'download', directive }] };
}

function backToWork(s) {
  Object.assign(s, { phase: 'working', blockedBy: null, blockReported: false, handedIn: false,
    blockRounds: 0, inPreparation: false, directiveAttempts: 0, directive: null, problem: null });
}

function fetch(mode, delayMs = 0) {
  return { type: 'fetch_directive', mode, delayMs };
}

function handIn(updateId) {
  return { type: 'hand_in', updateId };
}
