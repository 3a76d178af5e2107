// Node-only pieces, kept out of the platform-neutral core: a package store and a state store on
// files, and random bytes from node:crypto. A React Native or web-view app writes the same
// three small things on its own platform (react-native-fs, Capacitor Filesystem, …).

import { randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** @param {number} n @returns {Uint8Array} n bytes from the operating system's CSPRNG */
export function nodeRandom(n) {
  return randomFillSync(new Uint8Array(n));
}

/** A `PackageStore` in one file (`<path>`) plus the sha256 it belongs to (`<path>.sha256`). */
export class FilePackageStore {
  /** @param {string} path */
  constructor(path) {
    this.path = path;
  }

  async info() {
    try {
      const sha256 = (await readFile(`${this.path}.sha256`, 'utf8')).trim();
      return { sha256, size: (await stat(this.path)).size };
    } catch {
      return null;
    }
  }

  async begin(sha256) {
    await mkdir(dirname(this.path), { recursive: true });
    await writeFile(this.path, new Uint8Array(0));
    await writeFile(`${this.path}.sha256`, sha256);
  }

  async append(bytes) {
    await appendFile(this.path, bytes);
  }

  async* read() {
    for await (const chunk of createReadStream(this.path)) yield new Uint8Array(chunk);
  }

  async discard() {
    await rm(this.path, { force: true });
    await rm(`${this.path}.sha256`, { force: true });
  }
}

/** A `StateStore` in a JSON file, replaced atomically. */
export class FileStateStore {
  /** @param {string} path */
  constructor(path) {
    this.path = path;
  }

  async load() {
    try {
      return JSON.parse(await readFile(this.path, 'utf8'));
    } catch (error) {
      if (error?.code === 'ENOENT') return null;
      throw error;
    }
  }

  async save(state) {
    await mkdir(dirname(this.path), { recursive: true });
    await writeFile(`${this.path}.tmp`, JSON.stringify(state), { mode: 0o600 });
    await rename(`${this.path}.tmp`, this.path);
  }
}
