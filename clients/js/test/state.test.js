// The state machine against the table of docs/device-protocol.md §3.2, without a network.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { initialState, resume, transition } from '../src/state.js';

const DIRECTIVE = { update_id: 'u1', reason: 'update', version: '2.0', size: 10,
  sha256: 'a'.repeat(64), url: 'http://gw/device/v1/package' };

/** Run events in order; the last step's state and commands. */
function run(state, ...events) {
  let step = { state, commands: [] };
  for (const event of events) step = transition(step.state, event);
  return step;
}

const types = (commands) => commands.map((c) => c.type);
const note = (id, kind, updateId = 'u1') => ({ type: 'notification',
  notification: { id, kind, update_id: updateId, created_at: '2026-12-01T10:00:00+00:00' } });
const working = () => run(initialState('1.0'), { type: 'registered', updateRequired: false }).state;

test('registration: working, or checking when update_required', () => {
  assert.equal(working().phase, 'working');
  const step = run(initialState('1.0'), { type: 'registered', updateRequired: true });
  assert.equal(step.state.phase, 'checking');
  assert.deepEqual(step.commands, [{ type: 'fetch_directive', mode: 'check', delayMs: 0 }]);
});

test('a whole update: START → blocked → waiting → END → download → install → report', () => {
  let step = transition(working(), note('1', 'start'));
  assert.equal(step.state.phase, 'stopping');
  assert.deepEqual(types(step.commands), ['ack', 'report_blocked']);
  step = transition(step.state, { type: 'blocked_reported' });
  assert.equal(step.state.phase, 'blocked');
  assert.deepEqual(step.commands, [{ type: 'hand_in', updateId: 'u1' }]);
  step = transition(step.state, { type: 'synced', waiting: true });
  assert.equal(step.state.phase, 'waiting');
  step = transition(step.state, note('2', 'end'));
  assert.equal(step.state.phase, 'updating');
  assert.deepEqual(types(step.commands), ['ack', 'fetch_directive']);
  step = transition(step.state, { type: 'directive', mode: 'update', directive: null,
    inPreparation: true });
  assert.equal(step.state.phase, 'updating');
  assert.equal(step.commands[0].delayMs, 500, 'asks again after 0.5 s');
  step = transition(step.state, { type: 'directive', mode: 'update', directive: DIRECTIVE });
  assert.equal(step.state.phase, 'downloading');
  step = transition(step.state, { type: 'download_verified' });
  assert.deepEqual(types(step.commands), ['install']);
  step = transition(step.state, { type: 'installed', version: '2.0' });
  assert.deepEqual(step.commands, [{ type: 'report_version', version: '2.0' }]);
  step = transition(step.state, { type: 'version_reported', version: '2.0' });
  assert.equal(step.state.phase, 'working');
  assert.equal(step.state.appVersion, '2.0');
});

test('a duplicate notification is acknowledged again and nothing more', () => {
  const first = transition(working(), note('7', 'start'));
  const again = transition(first.state, note('7', 'start'));
  assert.deepEqual(again.commands, [{ type: 'ack', id: '7' }]);
  assert.equal(again.state.phase, 'stopping');
});

test('START sent again for the current update finishes only what is missing', () => {
  let { state } = run(working(), note('1', 'start'), { type: 'blocked_reported' });
  let step = transition(state, note('2', 'start'));
  assert.deepEqual(step.commands, [{ type: 'ack', id: '2' }, { type: 'hand_in', updateId: 'u1' }]);
  ({ state } = transition(step.state, { type: 'synced', waiting: true }));
  step = transition(state, note('3', 'start'));
  assert.deepEqual(types(step.commands), ['ack']);
  assert.equal(step.state.phase, 'waiting');
});

test('/blocked refused (not active): stays stopped and hands in', () => {
  const step = run(working(), note('1', 'start'), { type: 'blocked_refused' });
  assert.equal(step.state.phase, 'blocked');
  assert.deepEqual(types(step.commands), ['hand_in']);
});

test('not counted as waiting: report blocked again, at most 3 rounds, then tell the operator', () => {
  let step = run(working(), note('1', 'start'), { type: 'blocked_reported' });
  for (let round = 1; round <= 3; round++) {
    step = transition(step.state, { type: 'synced', waiting: false });
    assert.deepEqual(types(step.commands), ['report_blocked'], `round ${round}`);
    step = transition(step.state, { type: 'blocked_reported' });
  }
  step = transition(step.state, { type: 'synced', waiting: false });
  assert.deepEqual(step.commands, []);
  assert.equal(step.state.phase, 'blocked');
  assert.match(step.state.problem, /contact the site admin/);
});

test('hand-in refused: refused, data kept; END still installs', () => {
  let step = run(working(), note('1', 'start'), { type: 'blocked_refused' },
    { type: 'sync_refused', detail: 'versions differ' });
  assert.equal(step.state.phase, 'refused');
  assert.equal(step.state.problem, 'versions differ');
  step = transition(step.state, note('2', 'end'));
  assert.equal(step.state.phase, 'updating');
});

test('an unknown update id on /sync: forgotten, handed in again with null', () => {
  const step = run(working(), note('1', 'start'), { type: 'blocked_reported' },
    { type: 'sync_unknown_update' });
  assert.deepEqual(step.commands, [{ type: 'hand_in', updateId: null }]);
  assert.equal(step.state.updateId, null);
});

test('ERROR resumes work from the barrier, and only acknowledges while installing', () => {
  const stopped = run(working(), note('1', 'start'), { type: 'blocked_reported' },
    { type: 'synced', waiting: true }).state;
  const step = transition(stopped, note('2', 'error'));
  assert.equal(step.state.phase, 'working');
  assert.deepEqual(types(step.commands), ['ack']);
  const downloading = run(stopped, note('3', 'end'),
    { type: 'directive', mode: 'update', directive: DIRECTIVE }).state;
  assert.equal(transition(downloading, note('4', 'error')).state.phase, 'downloading');
});

test('catch-up at app start (D10): 200 downloads, 204 and 409 keep working', () => {
  const started = transition(working(), { type: 'app_started', appVersion: '1.0' });
  assert.equal(started.state.phase, 'checking');
  assert.equal(transition(started.state, { type: 'directive', mode: 'check', directive: null,
    inPreparation: true }).state.phase, 'working');
  assert.equal(transition(started.state, { type: 'directive', mode: 'check',
    directive: null }).state.phase, 'working');
  const catchUp = transition(started.state, { type: 'directive', mode: 'check',
    directive: { ...DIRECTIVE, update_id: null, reason: 'site_version' } });
  assert.equal(catchUp.state.phase, 'downloading');
});

test('app start after an update outside Lockstep reports the running version first', () => {
  const step = transition(working(), { type: 'app_started', appVersion: '1.5' });
  assert.deepEqual(types(step.commands), ['report_version', 'fetch_directive']);
});

test('three failed verifications: update_failed; the operator retries', () => {
  let { state } = run(working(), note('1', 'end'),
    { type: 'directive', mode: 'update', directive: DIRECTIVE });
  for (let i = 0; i < 2; i++) {
    ({ state } = run(state, { type: 'download_failed', detail: 'sha256' },
      { type: 'directive', mode: 'update', directive: DIRECTIVE }));
    assert.equal(state.phase, 'downloading');
  }
  ({ state } = transition(state, { type: 'download_failed', detail: 'sha256' }));
  assert.equal(state.phase, 'update_failed');
  const retry = transition(state, { type: 'retry_update' });
  assert.equal(retry.state.phase, 'updating');
});

test('manual block by codes: blocked without an update id, hands in with null; unblock', () => {
  const step = transition(working(), { type: 'manual_blocked' });
  assert.equal(step.state.phase, 'blocked');
  assert.equal(step.state.blockedBy, 'codes');
  assert.deepEqual(step.commands, [{ type: 'hand_in', updateId: null }]);
  const waiting = transition(step.state, { type: 'synced', waiting: true }).state;
  assert.equal(waiting.phase, 'waiting');
  assert.equal(transition(waiting, { type: 'manual_unblocked' }).state.phase, 'working');
});

test('blocked by codes before the admin typed code 3: hands in again at each periodic check', () => {
  const blocked = transition(working(), { type: 'manual_blocked' }).state;
  const early = transition(blocked, { type: 'synced', waiting: false });
  assert.equal(early.state.phase, 'blocked');
  assert.deepEqual(early.commands, []);
  const check = transition(early.state, { type: 'periodic', notificationsOff: true });
  assert.deepEqual(check.commands, [{ type: 'hand_in', updateId: null },
    { type: 'fetch_directive', mode: 'silent', delayMs: 0 }]);
  const pushing = transition(early.state, { type: 'periodic', notificationsOff: false });
  assert.deepEqual(pushing.commands, [{ type: 'hand_in', updateId: null }]);
  const waiting = transition(early.state, { type: 'synced', waiting: true }).state;
  assert.equal(waiting.phase, 'waiting');
  assert.deepEqual(transition(waiting, { type: 'periodic', notificationsOff: true }).commands,
    [{ type: 'fetch_directive', mode: 'silent', delayMs: 0 }]);
});

test('stopped with notifications off: the periodic check acts only on a directive', () => {
  const blocked = transition(working(), { type: 'manual_blocked' }).state;
  const check = transition(blocked, { type: 'periodic', notificationsOff: true });
  assert.deepEqual(check.commands, [{ type: 'hand_in', updateId: null }, // not yet waiting
    { type: 'fetch_directive', mode: 'silent', delayMs: 0 }]);
  assert.equal(transition(blocked, { type: 'directive', mode: 'silent', directive: null,
    inPreparation: true }).state.phase, 'blocked');
  assert.equal(transition(blocked, { type: 'directive', mode: 'silent',
    directive: DIRECTIVE }).state.phase, 'downloading');
});

test('disabled keeps the state it had and resumes it when enabled', () => {
  const stopping = transition(working(), note('1', 'start')).state;
  const disabled = transition(stopping, { type: 'disabled', detail: 'ask the admin' }).state;
  assert.equal(disabled.phase, 'disabled');
  const enabled = transition(disabled, { type: 'enabled' });
  assert.equal(enabled.state.phase, 'stopping');
  assert.deepEqual(enabled.commands, [{ type: 'report_blocked', updateId: 'u1' }]);
  assert.deepEqual(resume(enabled.state), enabled.commands);
});

test('a notification kind v1 does not have is acknowledged and ignored', () => {
  const step = transition(working(), note('9', 'reboot'));
  assert.deepEqual(step.commands, [{ type: 'ack', id: '9' }]);
  assert.equal(step.state.phase, 'working');
});

test('a hand-in in normal work asks for the directive; refused, it catches up', () => {
  const handIn = transition(working(), { type: 'hand_in_requested' });
  assert.deepEqual(handIn.commands, [{ type: 'hand_in', updateId: null }]);
  const accepted = transition(handIn.state, { type: 'synced', waiting: false });
  assert.equal(accepted.state.phase, 'checking');
  const refused = transition(handIn.state, { type: 'sync_refused', detail: 'versions differ' });
  assert.equal(refused.state.phase, 'checking');
  assert.deepEqual(types(refused.commands), ['fetch_directive']);
});

test('START of a new update while a catch-up downloads: it stops, the download result is dropped', () => {
  const downloading = run(working(), { type: 'app_started', appVersion: '1.0' },
    { type: 'directive', mode: 'check', directive: { ...DIRECTIVE, reason: 'site_version' } }).state;
  const stopping = transition(downloading, note('5', 'start', 'u2')).state;
  assert.equal(stopping.phase, 'stopping');
  assert.equal(transition(stopping, { type: 'download_verified' }).state.phase, 'stopping');
});
