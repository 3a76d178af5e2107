// A real single-node Lockstep for a test (test-support/lockstep_node.py), its admin API, and
// the device simulator as a subprocess.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const PYTHON = process.env.LOCKSTEP_PYTHON ?? `${REPO}.venv/bin/python`;

/**
 * Start Lockstep; resolves with the JSON line the helper prints (URLs, site, credentials)
 * plus `stop()`.
 */
export async function startLockstep({ timeoutMs = 150000 } = {}) {
  if (!existsSync(PYTHON)) {
    throw new Error(`${PYTHON} not found: run 'make install' first (or set LOCKSTEP_PYTHON)`);
  }
  const child = spawn(PYTHON, [`${REPO}clients/js/test-support/lockstep_node.py`],
    { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr = (stderr + chunk).slice(-4000); });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const lines = createInterface({ input: child.stdout });
  const first = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Lockstep not up in ${timeoutMs} ms:\n${stderr}`)),
      timeoutMs);
    lines.once('line', (line) => { clearTimeout(timer); resolve(line); });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the Lockstep helper exited with ${code}:\n${stderr}`));
    });
  });
  const env = JSON.parse(await first);
  env.stop = async () => {
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGTERM'), 30000);
    await exited;
    clearTimeout(timer);
  };
  return env;
}

/** The orchestrator's admin API (`/api/v1`) as the site admin. */
export class Admin {
  static async login(url, { username, password }) {
    const admin = new Admin(url, null);
    const session = await admin.call('POST', '/sessions', { username, password });
    admin.token = session.token;
    return admin;
  }

  constructor(url, token) {
    this.base = `${url.replace(/\/+$/, '')}/api/v1`;
    this.token = token;
  }

  async call(method, path, body) {
    const headers = { 'Content-Type': 'application/json' };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    const response = await fetch(this.base + path,
      { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} → ${response.status}: ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** Poll `fetchIt` until `done(value)`; a clear error with the last value on timeout. */
  async until(what, fetchIt, done, timeoutMs = 60000) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
      last = await fetchIt();
      if (done(last)) return last;
      if (Date.now() > deadline) {
        throw new Error(`${what}: not reached in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/**
 * `lockstep-simulator` with `count` devices; resolves `done` with its exit code and output.
 */
export function startSimulator(env, { count, prefix = 'SIM', extra = [] }) {
  const args = ['--gateway', env.gateway_url, '--site', env.site_id,
    '--enrolment-code', env.enrolment_code, '--devices', String(count),
    '--app-version', env.from_version, '--serial-prefix', prefix, '--report-every', '5',
    '--duration', '150', '--json', ...extra];
  const child = spawn(env.simulator, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk) => { out += chunk; });
  child.stderr.on('data', (chunk) => { err = (err + chunk).slice(-4000); });
  const done = new Promise((resolve) => child.on('exit', (code) => resolve({ code, out, err })));
  return { child, done, stop: () => child.kill('SIGTERM') };
}
