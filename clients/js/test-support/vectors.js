// The shared test vectors of docs/test-vectors/ (the same files the Python tests read).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DIR = new URL('../../../docs/test-vectors/', import.meta.url);

/** @param {string} name */
export function vectors(name) {
  return JSON.parse(readFileSync(fileURLToPath(new URL(name, DIR)), 'utf8'));
}
