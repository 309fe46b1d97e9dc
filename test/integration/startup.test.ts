/**
 * `idem consume` started while one of its servers is down (issue 9): it stays up, logs what it
 * waits for, answers /ready with 503 meanwhile, and starts once the server is back; what no
 * wait fixes (a missing topic, a missing database) stops it at once with the fix. The server
 * is "down" behind a loopback proxy that refuses connections (nothing listens on its port),
 * which is what a stopped server looks like to a process that starts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ceRecord, createPipeline, ledger, type Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy';
import { freeLoopbackPort } from '../../src/net';

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'bin', 'idem.js');
/** In every URL the process gets: it must appear in no log line. */
const SECRET = 'Sup3r-Secret-Pw';

let p: Pipeline;
const children: ChildProcess[] = [];
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  }
  p = await createPipeline('startup');
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const x of proxies) await x.close();
  await p?.close();
});

interface Consumer {
  child: ChildProcess;
  logs: () => string;
  exited: Promise<number | null>;
}

function spawnConsume(env: Record<string, string>): Consumer {
  let logs = '';
  const child = spawn(
    process.execPath,
    [BIN, 'consume', '--handlers', path.join(REPO, 'examples', 'ledger')],
    {
      env: { ...process.env, ...p.env, IDEM_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.on('data', (d: Buffer) => (logs += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
  children.push(child);
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, logs: () => logs, exited };
}

async function ready(port: number): Promise<{ status: number; body: { ready: boolean; waiting: object } }> {
  const res = await fetch(`http://127.0.0.1:${port}/ready`);
  return { status: res.status, body: (await res.json()) as { ready: boolean; waiting: object } };
}

function withPassword(url: string): string {
  const u = new URL(url);
  u.password = SECRET;
  return u.toString();
}

const servers = {
  PostgreSQL: () => new URL(p.env.DATABASE_URL as string),
  Temporal: () => new URL(`grpc://${p.env.TEMPORAL_ADDRESS}`),
  Kafka: () => new URL(`kafka://${(p.env.KAFKA_BROKERS as string).split(',')[0]}`),
};

test.each(['PostgreSQL', 'Temporal', 'Kafka'] as const)(
  'started while %s is down, idem consume waits (not ready, still running), then starts and applies',
  async (dependency) => {
    const target = servers[dependency]();
    const proxy = await startTcpProxy(target.hostname, Number(target.port));
    proxies.push(proxy);
    await proxy.cut();
    const via = (u: URL) => `${u.hostname}:${proxy.port}`;
    const metricsPort = await freeLoopbackPort();
    const env: Record<string, string> = {
      IDEM_METRICS_PORT: String(metricsPort),
      // A password in the database URL, whichever server is down: it must never be logged.
      DATABASE_URL: withPassword(p.env.DATABASE_URL as string),
    };
    if (dependency === 'PostgreSQL') {
      const u = new URL(env.DATABASE_URL as string);
      u.port = String(proxy.port);
      env.DATABASE_URL = u.toString();
    }
    if (dependency === 'Temporal') env.TEMPORAL_ADDRESS = via(target);
    if (dependency === 'Kafka') env.KAFKA_BROKERS = via(target);
    const c = spawnConsume(env);

    await eventually(
      () => c.logs().includes(`${dependency} is not reachable`),
      120_000,
      `a log line saying ${dependency} is awaited`,
    );
    const waiting = await eventually(
      async () => {
        const r = await ready(metricsPort);
        return r.status === 503 && Object.keys(r.body.waiting).some((k) => k.startsWith(dependency)) && r;
      },
      60_000,
      '/ready answering 503 with the dependency awaited',
    );
    expect(waiting.body.ready).toBe(false);
    // It keeps waiting: a second try has been logged and the process still runs.
    await eventually(
      () => c.logs().split(`${dependency} is not reachable`).length > 2,
      60_000,
      'a second try',
    );
    expect(c.child.exitCode).toBeNull();

    await proxy.restore();
    await eventually(async () => (await ready(metricsPort)).status === 200, 180_000, '/ready answering 200');
    const acct = `startup-${dependency}-${crypto.randomUUID()}`;
    await p.producer.send({
      topic: p.topic,
      messages: [
        ceRecord(p.source, { id: acct, type: 'account.credited', data: { account: acct, amount: 7 } }, acct),
      ],
    });
    await eventually(async () => (await ledger(p, acct)).entries === 1, 120_000, 'the event applied');

    c.child.kill('SIGTERM');
    expect(await c.exited).toBe(0);
    expect(c.logs()).toContain(`${dependency} is back`);
    expect(c.logs()).not.toContain(SECRET);
  },
  600_000,
);

test('SIGTERM while a server is awaited at start-up stops idem consume at once, exit code 0', async () => {
  const target = servers.PostgreSQL();
  const proxy = await startTcpProxy(target.hostname, Number(target.port));
  proxies.push(proxy);
  await proxy.cut();
  const u = new URL(p.env.DATABASE_URL as string);
  u.port = String(proxy.port);
  const c = spawnConsume({ DATABASE_URL: u.toString() });
  await eventually(() => c.logs().includes('PostgreSQL is not reachable'), 120_000, 'the wait');
  c.child.kill('SIGTERM');
  expect(await c.exited).toBe(0);
  expect(c.logs()).toContain('stop requested during start-up');
}, 180_000);

test('a missing dead-letter topic stops idem consume at start-up with the command that creates it', async () => {
  const topic = `${p.topic}-nodlq`;
  const admin = p.kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const c = spawnConsume({ KAFKA_TOPICS: topic });
  expect(await c.exited).toBe(1);
  expect(c.logs()).toContain(`Kafka has no topic "${topic}.dlq"`);
  expect(c.logs()).toContain(`--create --topic ${topic}.dlq`);
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
}, 120_000);

test('a database that does not exist stops idem consume at start-up, without waiting and without the password', async () => {
  const u = new URL(withPassword(p.env.DATABASE_URL as string));
  u.pathname = '/no_such_database_' + crypto.randomBytes(4).toString('hex');
  const c = spawnConsume({ DATABASE_URL: u.toString() });
  expect(await c.exited).toBe(1);
  expect(c.logs()).toMatch(/the database named in DATABASE_URL does not exist/);
  expect(c.logs()).not.toContain(SECRET);
}, 120_000);
