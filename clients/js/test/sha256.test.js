import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';

import { Sha256, hmacSha256, sha256, toHex, utf8 } from '../src/sha256.js';
import { vectors } from '../test-support/vectors.js';

test('FIPS 180-4 examples', () => {
  assert.equal(toHex(sha256(utf8(''))),
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(toHex(sha256(utf8('abc'))),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(toHex(sha256(utf8('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))),
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
});

test('the sample package of the shared vectors, whole and its prefixes', () => {
  const pkg = vectors('sample-package.json');
  const content = new Uint8Array(Buffer.from(pkg.content_base64, 'base64'));
  assert.equal(content.length, pkg.size);
  assert.equal(toHex(sha256(content)), pkg.sha256);
  for (const [n, digest] of Object.entries(pkg.sha256_of_prefixes)) {
    assert.equal(toHex(sha256(content.subarray(0, Number(n)))), digest, `first ${n} bytes`);
  }
});

test('incremental hashing in random pieces equals node:crypto', () => {
  for (let round = 0; round < 40; round++) {
    const data = new Uint8Array(randomBytes(Math.floor(Math.random() * 5000)));
    const hash = new Sha256();
    for (let at = 0; at < data.length;) {
      const step = Math.min(data.length - at, 1 + Math.floor(Math.random() * 150));
      hash.update(data.subarray(at, at + step));
      at += step;
    }
    assert.equal(toHex(hash.digest()), createHash('sha256').update(data).digest('hex'));
  }
});

test('HMAC-SHA256 equals node:crypto for short and long keys', () => {
  for (const keyLength of [0, 1, 32, 64, 65, 200]) {
    const key = new Uint8Array(randomBytes(keyLength));
    const message = new Uint8Array(randomBytes(100));
    assert.equal(toHex(hmacSha256(key, message)),
      createHmac('sha256', key).update(message).digest('hex'), `key of ${keyLength} bytes`);
  }
});

test('a finished hash refuses more input', () => {
  const hash = new Sha256();
  hash.digest();
  assert.throws(() => hash.update(utf8('x')), /after digest/);
});
