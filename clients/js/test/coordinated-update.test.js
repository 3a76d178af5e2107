// A whole coordinated update on a REAL single-node Lockstep (issue 11 §3): JavaScript devices
// written from docs/device-protocol.md and simulator devices take part together, driven through
// the admin API (open, START, manual block by codes, Start, Finish, Conclude). Then a device
// registered late catches up with the site's version (D10), and a few refusals of the protocol
// (and a re-registration with the secret proof) are checked against the live server.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Device, MemoryPackageStore, MemoryStateStore, Refusal, VerificationFailed, download }
  from '../src/index.js';
import { nodeRandom } from '../src/node.js';
import { Admin, startLockstep, startSimulator } from '../test-support/lockstep.js';

const PUSH_DEVICES = ['JS000001', 'JS000002', 'JS000003'];
const SILENT_DEVICE = 'JSQ00001'; // notifications off: blocked by codes, updates by its checks
const SIMULATED = 3;
const TOTAL = PUSH_DEVICES.length + 1 + SIMULATED;

describe('a coordinated update with JavaScript and simulated devices', { timeout: 300000 }, () => {
  let env;
  let admin;
  let simulator;
  let updateId;
  const devices = new Map();
  const installs = [];
  const packageRequests = [];

  function device(serial, { notificationsEnabled = true, fetchImpl, appVersion } = {}) {
    let unsent = 12;
    const packages = new MemoryPackageStore();
    const created = new Device({
      baseUrl: env.gateway_url, siteId: env.site_id, enrolmentCode: env.enrolment_code,
      serial, model: 'JS-TC52', appVersion: appVersion ?? env.from_version,
      operator: { code: 'OP-JS', name: `Operator of ${serial}` }, notificationsEnabled,
      store: new MemoryStateStore(), packages, random: nodeRandom, fetch: fetchImpl,
      silentCheckEveryMs: 1000,
      app: {
        async sendUnsentData() { const records = unsent; unsent = 0; return records; },
        async install(directive, store) {
          assert.equal(store.bytes().length, directive.size, 'installs only a whole package');
          installs.push({ serial, reason: directive.reason, version: directive.version,
            directive });
        },
      },
    });
    devices.set(serial, created);
    return created;
  }

  async function until(what, predicate, timeoutMs = 60000) {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) {
        const phases = [...devices].map(([s, d]) => `${s}=${d.phase} (${d.lastError ?? ''})`);
        throw new Error(`${what}: not reached in ${timeoutMs} ms; ${phases.join(', ')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  const update = () => admin.call('GET', `/updates/${updateId}`);

  /** Call `request` until it is refused as `expected` says (the gateway learnt of an admin
   * action from the bus), at most 10 s; its last outcome on timeout. */
  async function refusedOnceKnown(request, expected, timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let outcome;
      try {
        outcome = await request();
      } catch (e) {
        if (expected(e)) return;
        outcome = e;
      }
      if (Date.now() > deadline) {
        throw new Error(`not refused as expected in ${timeoutMs} ms; last: ${outcome}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  before(async () => {
    env = await startLockstep();
    admin = await Admin.login(env.url, env.admin);
  });

  after(async () => {
    await Promise.allSettled([...devices.values()].map((d) => d.stop()));
    simulator?.stop();
    await env?.stop();
  });

  it('registers JS and simulated devices; each checks for an update at start (D10)', async () => {
    for (const serial of PUSH_DEVICES) {
      const fetchImpl = serial === PUSH_DEVICES[2] ? cuttingFetch(packageRequests) : undefined;
      await device(serial, { fetchImpl }).start();
    }
    await device(SILENT_DEVICE, { notificationsEnabled: false }).start();
    simulator = startSimulator(env, { count: SIMULATED, extra: ['--check-every', '2'] });
    await until('JS devices working', () => [...devices.values()].every((d) => d.phase === 'working'));
    await admin.until(`${TOTAL} devices in the grid`,
      () => admin.call('GET', `/sites/${env.site_id}/devices`),
      (grid) => grid.devices.length >= TOTAL);
  });

  it('phase 1: START; JS devices block and hand in; the silent one is blocked by codes', async () => {
    const opened = await admin.call('POST', `/sites/${env.site_id}/updates`,
      { product: env.product, backups_confirmed: true });
    updateId = opened.update_id;
    // The admin API answers once the orchestrator committed; the gateway learns of the update
    // from its event, a few milliseconds later (the protocol's "eventually", not a race to win).
    await refusedOnceKnown(() => devices.get(PUSH_DEVICES[0]).api.directive(),
      (e) => e instanceof Refusal && e.status === 409 && e.code === 'update_in_preparation');
    await admin.call('POST', `/updates/${updateId}/start-notifications`, { serials: null });

    const silent = devices.get(SILENT_DEVICE);
    const code1 = await silent.beginManual('block');
    const exchange = await admin.call('POST',
      `/sites/${env.site_id}/devices/${SILENT_DEVICE}/codes`, { action: 'block', code1 });
    const code3 = await silent.enterCode2(exchange.code2);
    assert.equal(silent.state.blockedBy, 'codes');
    const verified = await admin.call('POST', `/sites/${env.site_id}/devices/${SILENT_DEVICE}/codes/`
      + `${exchange.exchange_id}/confirmation`, { code3 });
    assert.equal(verified.verified, true);

    await until('JS push devices waiting', () => PUSH_DEVICES.every(
      (s) => devices.get(s).phase === 'waiting'));
    const waiting = await admin.until('every device waiting', update,
      (u) => u.fleet.waiting >= TOTAL);
    assert.equal(waiting.fleet.enabled, TOTAL);
    assert.ok(devices.get(SILENT_DEVICE).stopped, 'the silent device is stopped');
  });

  it('phase 2 and 3: Start, then Finish; every device installs the new version', async () => {
    await admin.call('POST', `/updates/${updateId}/server-update`, {});
    await admin.until('server updated', update,
      (u) => u.state === 'server_updated' || u.state === 'failed', 90000);
    assert.equal((await update()).state, 'server_updated');
    await admin.call('POST', `/updates/${updateId}/end-notifications`, { serials: null });
    await admin.until(`${TOTAL} devices on the new version`, update,
      (u) => u.fleet.on_target >= TOTAL, 90000);
    const concluded = await admin.call('POST', `/updates/${updateId}/conclusion`,
      { confirm_not_updated: false });
    assert.equal(concluded.state, 'concluded');

    for (const serial of [...PUSH_DEVICES, SILENT_DEVICE]) {
      const d = devices.get(serial);
      await until(`${serial} back at work`, () => d.phase === 'working');
      assert.equal(d.state.appVersion, env.to_version, serial);
      assert.equal(d.state.reportedVersion, env.to_version, serial);
    }
    assert.deepEqual(new Set(installs.map((i) => i.reason)), new Set(['update']));

    const resumed = packageRequests.filter((r) => r.range !== null);
    assert.ok(resumed.length >= 1 && resumed.every((r) => r.status === 206),
      `the cut download resumed with Range and got 206: ${JSON.stringify(packageRequests)}`);

    const { code, out, err } = await simulator.done;
    assert.equal(code, 0, `simulator failed: ${err}`);
    const snapshot = JSON.parse(out.slice(out.indexOf('\n{') + 1));
    assert.equal(snapshot.devices.length, SIMULATED);
    for (const view of snapshot.devices) assert.equal(view.app_version, env.to_version);
  });

  it('a device registered after the update catches up with the site version (D10)', async () => {
    // The gateway learns of the conclusion from the orchestrator's event: until then the update
    // is in phase 3 there, and a new device would install it as the update's ('update').
    await refusedOnceKnown(() => devices.get(PUSH_DEVICES[0]).api.blocked(updateId),
      (e) => e instanceof Refusal && e.code === 'not_active_update'
        && /not this site's active update/.test(e.message));
    const late = device('JSLATE01');
    await late.start();
    await until('the late device updated', () => late.phase === 'working'
      && late.state.appVersion === env.to_version, 60000);
    const caughtUp = installs.find((i) => i.serial === 'JSLATE01');
    assert.equal(caughtUp.reason, 'site_version');
    assert.equal(caughtUp.version, env.to_version);
  });

  it('refusals of the live server are the documented ones', async () => {
    const late = devices.get('JSLATE01');
    const { directive } = installs.find((i) => i.serial === 'JSLATE01');
    await assert.rejects(download(late.api, { ...directive, sha256: 'f'.repeat(64) },
      new MemoryPackageStore()), VerificationFailed);

    const headers = { Authorization: `Bearer ${late.api.token}`, Range: `bytes=${directive.size}-` };
    const beyond = await fetch(late.api.resolve(directive.url), { headers });
    assert.equal(beyond.status, 416);
    assert.equal((await beyond.json()).code, 'bad_range');
    assert.equal(beyond.headers.get('content-range'), `bytes */${directive.size}`);

    const whole = await fetch(late.api.resolve(directive.url),
      { headers: { Authorization: headers.Authorization } });
    assert.equal(whole.headers.get('etag'), `"${directive.sha256}"`);
    assert.equal(whole.headers.get('accept-ranges'), 'bytes');
    await whole.arrayBuffer();
    assert.match(directive.url, /^https?:\/\//, 'the directive\'s url is absolute (§9.1)');
    const head = await fetch(directive.url, { method: 'HEAD',
      headers: { Authorization: headers.Authorization } });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(directive.size));
    assert.equal(head.headers.get('etag'), `"${directive.sha256}"`);
    assert.equal(head.headers.get('accept-ranges'), 'bytes');
    assert.equal((await head.arrayBuffer()).byteLength, 0);

    await assert.rejects(late.api.ack('999999999'),
      (e) => e instanceof Refusal && e.status === 404 && e.code === 'unknown_notification');
    await assert.rejects(late.api.blocked(updateId),
      (e) => e instanceof Refusal && e.status === 409 && e.code === 'not_active_update');
    const stranger = await fetch(`${env.gateway_url}/device/v1/update`,
      { headers: { Authorization: 'Bearer not-a-token' } });
    assert.equal(stranger.status, 401);
    assert.equal(stranger.headers.get('www-authenticate'), 'Bearer');
    assert.equal((await stranger.json()).code, 'invalid_token');

    // §4.1: a known serial registers again with Lockstep-Secret-Proof; the enrolment code alone
    // does not take it over
    const before = late.api.token;
    await late.register();
    assert.notEqual(late.api.token, before);
    const takeover = await fetch(`${env.gateway_url}/device/v1/registrations`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ site_id: env.site_id, enrolment_code: env.enrolment_code,
        serial: 'JSLATE01', model: 'JS-TC52', app_version: env.to_version }) });
    assert.equal(takeover.status, 403);
    assert.equal((await takeover.json()).code, 'reregistration_refused');
    const still = await fetch(`${env.gateway_url}/device/v1/update`,
      { headers: { Authorization: `Bearer ${late.api.token}` } });
    assert.equal(still.status, 204);
  });
});

/** A `fetch` whose first whole-package download is cut halfway (the network dropped). */
function cuttingFetch(log) {
  let cut = false;
  return async (url, init = {}) => {
    const response = await fetch(url, init);
    if (!String(url).endsWith('/device/v1/package')) return response;
    log.push({ range: init.headers?.Range ?? null, status: response.status });
    if (cut || response.status !== 200) return response;
    cut = true;
    const half = Math.floor(Number(response.headers.get('content-length')) / 2);
    const reader = response.body.getReader();
    let sent = 0;
    const body = new ReadableStream({
      async pull(controller) {
        if (sent >= half) {
          await reader.cancel();
          controller.error(new TypeError('the network dropped'));
          return;
        }
        const { done, value } = await reader.read();
        if (done) { controller.close(); return; }
        const part = value.subarray(0, Math.min(value.length, half - sent));
        sent += part.length;
        controller.enqueue(part);
      },
    });
    return new Response(body, { status: 200, headers: response.headers });
  };
}
