/** The local stack's readiness wait follows progress: it outlasts a slow server that keeps
 * working, and fails fast, with the end of the log, on one that died or hangs. Real child
 * processes; every limit here is about the wait's own logic, not about machine speed. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitUntilReady } from '../../src/stack/ready';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-ready-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

function server(script: string, logFile: string): number {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  children.push(child);
  return child.pid as number;
}

test('keeps waiting past the stall limit while the server writes its log, until it is ready', async () => {
  const log = path.join(dir, 'slow.log');
  // Logs a line every 50 ms; "ready" only after 2 s, more than three times the stall limit.
  const pid = server("let n=0; setInterval(() => console.log('migrating ' + ++n), 50)", log);
  const began = Date.now();
  await waitUntilReady('slow server', async () => Date.now() - began > 2000, {
    limits: { ceilingMs: 60_000, stallMs: 600 },
    pid,
    logFile: log,
    intervalMs: 20,
  });
  expect(fs.readFileSync(log, 'utf8')).toMatch(/migrating \d+/);
});

test('a server that exits during start-up fails the wait with the end of its log', async () => {
  const log = path.join(dir, 'dies.log');
  const pid = server("console.log('FATAL: port 1234 already in use'); process.exit(3)", log);
  await expect(
    waitUntilReady('dying server', async () => false, {
      limits: { ceilingMs: 60_000, stallMs: 60_000 },
      pid,
      logFile: log,
      intervalMs: 20,
    }),
  ).rejects.toThrow(
    /dying server exited during start-up[\s\S]*dies\.log[\s\S]*FATAL: port 1234 already in use/,
  );
});

test('a live server that shows no progress fails after the stall limit, naming its log', async () => {
  const log = path.join(dir, 'hung.log');
  const pid = server("console.log('started'); setInterval(() => undefined, 1 << 30)", log);
  await expect(
    waitUntilReady('hung server', async () => false, {
      limits: { ceilingMs: 60_000, stallMs: 400 },
      pid,
      logFile: log,
      intervalMs: 20,
    }),
  ).rejects.toThrow(/hung server is not ready and showed no progress for 0s[\s\S]*hung\.log[\s\S]*started/);
});

test('the ceiling holds even for a server that keeps working', async () => {
  const log = path.join(dir, 'busy.log');
  const pid = server("setInterval(() => console.log('busy'), 20)", log);
  await expect(
    waitUntilReady('busy server', async () => false, {
      limits: { ceilingMs: 300, stallMs: 60_000 },
      pid,
      logFile: log,
      intervalMs: 20,
    }),
  ).rejects.toThrow(/busy server did not become ready within 0s \(raise IDEM_STACK_TIMEOUT/);
});

test("a server that logs it is ready while the check still fails: the wait names the check's last error", async () => {
  const log = path.join(dir, 'refuses.log');
  const pid = server(
    "console.log('ready to accept connections'); setInterval(() => console.log('.'), 20)",
    log,
  );
  let attempts = 0;
  await expect(
    waitUntilReady(
      'refusing server',
      async () => {
        attempts += 1;
        throw new Error(`The server does not support SSL connections (attempt ${attempts})`);
      },
      { limits: { ceilingMs: 300, stallMs: 60_000 }, pid, logFile: log, intervalMs: 20 },
    ),
  ).rejects.toThrow(
    /did not become ready[\s\S]*The last check failed with: The server does not support SSL connections \(attempt \d+\)[\s\S]*refuses\.log/,
  );
});
