// §10a: staging with the gateway's answers given by `fetch` (the gateway's side is tested
// against the real gateway in tests/integration/gateway/test_gateway_staging.py).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  DeviceApi, MemoryPackageStore, download, parseDirective, sha256, stage, toHex,
} from '../src/index.js';

const PACKAGE = new TextEncoder().encode('the next release '.repeat(500));
const SHA = toHex(sha256(PACKAGE));
const json = (status, body, headers = {}) => new Response(JSON.stringify(body),
  { status, headers: { 'content-type': 'application/json', ...headers } });

function gateway({ busyFirst = false } = {}) {
  const calls = [];
  let busy = busyFirst;
  const fetch = async (url, init) => {
    const path = new URL(url).pathname;
    calls.push(`${init?.method ?? 'GET'} ${path}`);
    if (path === '/device/v1/staging') {
      if (busy) {
        busy = false;
        return json(429, { detail: 'every slot is taken', code: 'staging_busy' },
          { 'retry-after': '3' });
      }
      return json(200, { product: 'shop', version: '03.01.00_031', size: PACKAGE.length,
        sha256: SHA, url: 'http://gateway.test/device/v1/staging/package', slot_s: 120 });
    }
    if (path === '/device/v1/staging/package') {
      return new Response(PACKAGE, { status: 200, headers: { etag: `"${SHA}"` } });
    }
    if (path === '/device/v1/staged') {
      assert.deepEqual(JSON.parse(init.body), { sha256: SHA });
      return new Response(null, { status: 204 });
    }
    throw new Error(`unexpected request ${path}`);
  };
  return { calls, fetch };
}

function api(fetch) {
  const a = new DeviceApi({ baseUrl: 'http://gateway.test', fetch });
  a.token = 'token';
  return a;
}

test('a busy site says when to ask again; then the package is staged and reported', async () => {
  const server = gateway({ busyFirst: true });
  const store = new MemoryPackageStore();
  assert.deepEqual(await stage(api(server.fetch), store), { outcome: 'busy', retryAfterS: 3 });
  assert.equal(await store.info(), null);
  assert.deepEqual(await stage(api(server.fetch), store),
    { outcome: 'staged', version: '03.01.00_031' });
  assert.deepEqual(await store.info(), { sha256: SHA, size: PACKAGE.length });
  assert.deepEqual(server.calls, ['POST /device/v1/staging', 'POST /device/v1/staging',
    'GET /device/v1/staging/package', 'POST /device/v1/staged']);
});

test('after END a staged package is installed without a byte on the network', async () => {
  const server = gateway();
  const store = new MemoryPackageStore();
  await stage(api(server.fetch), store);
  server.calls.length = 0;
  const directive = parseDirective({ update_id: 'u1', reason: 'update',
    version: '03.01.00_031', size: PACKAGE.length, sha256: SHA,
    url: 'http://gateway.test/device/v1/package', staged: true });
  assert.equal(directive.staged, true);
  await download(api(server.fetch), directive, store);
  assert.deepEqual(server.calls, []);
  assert.deepEqual(store.bytes(), PACKAGE);
});

test('nothing to stage: 204', async () => {
  const fetch = async () => new Response(null, { status: 204 });
  assert.deepEqual(await stage(api(fetch), new MemoryPackageStore()), { outcome: 'nothing' });
});
