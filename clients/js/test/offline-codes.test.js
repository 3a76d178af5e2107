import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  CHALLENGE_TTL_MS, Challenge, CodeRefused, code1FromRandom, code2, code3, normalizeTyped,
  secretProof,
} from '../src/offline-codes.js';
import { vectors } from '../test-support/vectors.js';

const codes = vectors('offline-codes.json');

test('every shared vector: code 2 and code 3', () => {
  assert.ok(codes.vectors.length >= 8);
  for (const v of codes.vectors) {
    assert.equal(code2(v.secret, v.action, v.code1), v.code2, `${v.action} ${v.code1}`);
    assert.equal(code3(v.secret, v.action, v.code1, v.code2), v.code3, `${v.action} ${v.code1}`);
  }
});

test('the device answers every vector through a challenge', () => {
  for (const v of codes.vectors) {
    const challenge = new Challenge({ code1: v.code1, action: v.action, issuedAt: 0 });
    assert.equal(challenge.answer(v.secret, v.code2, 1000), v.code3);
  }
});

test('typed codes: spaces and dashes ignored, anything else refused', () => {
  for (const { typed, code } of codes.typed) {
    assert.equal(normalizeTyped(typed), code, JSON.stringify(typed));
  }
});

test('the registration proof vectors', () => {
  for (const v of vectors('registration-proof.json').vectors) {
    assert.equal(secretProof(v.secret, v.site_id, v.serial), v.proof);
  }
});

test('code 1 from random bytes: 6 digits, leading zeros kept', () => {
  assert.equal(code1FromRandom(new Uint8Array(8)), '000000');
  const bytes = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 42]);
  assert.equal(code1FromRandom(bytes), '000042');
  const max = new Uint8Array(8).fill(255); // 2**64 - 1 = 18446744073709551615
  assert.equal(code1FromRandom(max), '551615');
});

test('a challenge: 3 wrong code 2 entries, then dead; single use; 10 minutes', () => {
  const v = codes.vectors[0];
  const wrong = String((Number(v.code2) + 1) % 1000000).padStart(6, '0');
  const challenge = new Challenge({ code1: v.code1, action: v.action, issuedAt: 0 });
  for (const left of [2, 1, 0]) {
    assert.throws(() => challenge.answer(v.secret, wrong, 1),
      (e) => e instanceof CodeRefused && e.reason === 'wrong' && e.attemptsLeft === left);
  }
  assert.throws(() => challenge.answer(v.secret, v.code2, 1),
    (e) => e instanceof CodeRefused && e.reason === 'too_many');

  const once = new Challenge({ code1: v.code1, action: v.action, issuedAt: 0 });
  assert.throws(() => once.answer(v.secret, '12a456', 1), (e) => e.reason === 'malformed');
  assert.equal(once.attempts, 0, 'a malformed entry is not an attempt');
  assert.equal(once.answer(v.secret, v.code2.slice(0, 3) + ' ' + v.code2.slice(3), 1), v.code3);
  assert.throws(() => once.answer(v.secret, v.code2, 2), (e) => e.reason === 'used');

  const late = new Challenge({ code1: v.code1, action: v.action, issuedAt: 0 });
  assert.throws(() => late.answer(v.secret, v.code2, CHALLENGE_TTL_MS + 1),
    (e) => e.reason === 'expired');
  assert.equal(CHALLENGE_TTL_MS / 1000, codes.challenge_ttl_s);
});

test('a challenge survives being stored as JSON', () => {
  const v = codes.vectors[1];
  const challenge = Challenge.issue(v.action, new Uint8Array(8), 0);
  const restored = Challenge.from(JSON.parse(JSON.stringify(challenge)));
  assert.equal(restored.code1, '000000');
  assert.equal(restored.action, v.action);
});
