// §13: a server that no longer speaks v1 answers every request `410 protocol_retired`; the
// device stops making requests and shows the detail (update the app). The server's side is
// tested against the gateway (tests/integration/gateway); here the answer is given by `fetch`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Device, MemoryPackageStore, MemoryStateStore } from '../src/index.js';
import { nodeRandom } from '../src/node.js';

const DETAIL = 'this server no longer speaks the device protocol v1 this app uses: update the '
  + 'app from the vendor\'s store';

function retiredServer() {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push(`${init?.method ?? 'GET'} ${new URL(url).pathname}`);
    return new Response(JSON.stringify({ detail: DETAIL, code: 'protocol_retired' }),
      { status: 410, headers: { 'content-type': 'application/json' } });
  };
  return { calls, fetch };
}

function device(fetch, store = new MemoryStateStore()) {
  return new Device({
    baseUrl: 'http://gateway.test', siteId: 'shop-1', enrolmentCode: 'code', serial: 'JS1',
    model: 'TC52', appVersion: '1.0', store, packages: new MemoryPackageStore(),
    random: nodeRandom, fetch,
    app: { async sendUnsentData() { return 0; }, async install() {} },
  });
}

const settle = () => new Promise((resolve) => { setTimeout(resolve, 100); });

test('registration answered 410: the device stops and shows why', async () => {
  const server = retiredServer();
  const d = device(server.fetch);
  await d.start();
  await settle();
  assert.equal(d.retired, true);
  assert.equal(d.state.problem, DETAIL);
  assert.equal(d.running, false);
  assert.deepEqual(server.calls, ['POST /device/v1/registrations']);
  await d.stop();
});

test('a registered device answered 410 stops making requests', async () => {
  const store = new MemoryStateStore();
  const working = { phase: 'working', updateId: null, blockedBy: null, blockReported: false,
    handedIn: false, blockRounds: 0, inPreparation: false, directiveAttempts: 0,
    verifyFailures: 0, directive: null, appVersion: '1.0', reportedVersion: '1.0',
    siteVersion: '1.0', problem: null, beforeDisabled: null, seen: [] };
  await store.save({ state: working, credentials: { token: 't', secret: 'a'.repeat(64) },
    challenge: null, registrationKey: null });
  const server = retiredServer();
  const d = device(server.fetch, store);
  await d.start();
  await settle();
  assert.equal(d.retired, true);
  assert.equal(d.state.problem, DETAIL);
  // the long-poll and the start-up check were in flight together; nothing follows them
  const made = server.calls.length;
  assert.ok(made <= 2, `requests: ${server.calls}`);
  await settle();
  assert.equal(server.calls.length, made, `no request after the 410: ${server.calls}`);
  assert.equal((await store.load()).state.problem, DETAIL); // kept across a restart
  await d.stop();
});
