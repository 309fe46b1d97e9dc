/**
 * Monitoring on the real stack, scraped over HTTP from each process's /metrics as Prometheus
 * scrapes it:
 * - with the ingester running and no worker, the consumer lag and the oldest unprocessed event's
 *   age grow; once a worker runs they fall to 0 and the counters move; the outbox backlog counts
 *   rows the relay cannot take yet and falls to 0 once it can;
 * - an event whose handler blocks on a gate is reported stuck by the worker's scanner
 *   (idem_stuck_events), by `idem stuck` and by `idem status` (the built CLI, its output and exit
 *   code), and `idem inspect` shows its workflow running; once released, it is none of these;
 * - the Temporal SDK's own metrics come on the same scrape as idem's (the built `idem worker`).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { HandlerRegistry } from '../../src/activities/handlers/registry';
import { startIdem, type IdemProcess, type Role } from '../../src/app';
import { parseConfig } from '../../src/config';
import { workflowIdFor } from '../../src/events/identity';
import { silentLogger } from '../../src/observability/logger';
import { freePort } from '../support/own-servers';
import { ceRecord, createPipeline, ledgerRegistry, type Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'bin', 'idem.js');

/** One sample per series: `name{labels}` → value. */
type Scrape = Map<string, number>;

async function scrape(port: number): Promise<{ text: string; series: Scrape }> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  const series: Scrape = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    series.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return { text, series };
}

/** The values of a metric by one label's value, e.g. partition → lag. */
function byLabel(s: Scrape, name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of s) {
    if (!k.startsWith(`${name}{`)) continue;
    const m = new RegExp(`${label}="([^"]*)"`).exec(k);
    if (m) out.set(m[1] as string, v);
  }
  return out;
}
const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const one = (s: Scrape, name: string) => s.get(name) ?? s.get(`${name}{}`) ?? Number.NaN;

/** The built CLI, as an operator runs it, with the pipeline's environment; never blocks this
 * process (the in-process idem keeps running meanwhile). */
function idem(
  p: Pipeline,
  ...args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: REPO, env: { ...process.env, ...p.env }, timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number | string }).code ?? null) : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
      },
    );
  });
}

/** idem in this process with /metrics served on a port of its own. */
async function startServed(
  p: Pipeline,
  running: IdemProcess[],
  roles: Role[],
  registry?: HandlerRegistry,
): Promise<{ proc: IdemProcess; scrape: () => Promise<{ text: string; series: Scrape }> }> {
  const port = await freePort();
  const proc = await startIdem({
    config: parseConfig({ ...p.env, IDEM_METRICS_PORT: String(port) }),
    logger: silentLogger,
    roles,
    registry: registry ?? ledgerRegistry(),
  });
  running.push(proc);
  return { proc, scrape: () => scrape(port) };
}

describe('metrics as events flow', () => {
  let p: Pipeline;
  const running: IdemProcess[] = [];
  beforeAll(async () => {
    p = await createPipeline('metrics', { IDEM_METRICS_SAMPLE_INTERVAL_MS: '300' });
  }, 60_000);
  afterAll(async () => {
    for (const proc of running.splice(0)) await proc.stop();
    await p?.close();
  });

  test('lag and oldest age grow with no worker, fall to 0 with one; the outbox backlog moves', async () => {
    const run = crypto.randomBytes(3).toString('hex');
    const event = (i: number) =>
      ceRecord(
        p.source,
        { id: `m-${run}-${i}`, type: 'account.credited', data: { account: `m-${run}-${i % 6}`, amount: 1 } },
        `m-${run}-${i % 6}`,
      );
    const ingest = await startServed(p, running, ['ingester']);
    await p.producer.send({ topic: p.topic, messages: Array.from({ length: 6 }, (_, i) => event(i)) });

    // Keyed events wait for their effect before their offsets are committed: with no worker,
    // nothing is committed, so the lag is every record and the oldest record only gets older.
    const firstLag = await eventually(
      async () => {
        const s = (await ingest.scrape()).series;
        const lag = byLabel(s, 'idem_consumer_lag', 'partition');
        return lag.size === 3 && sum(lag) === 6 && s;
      },
      30_000,
      'a lag of 6 on the 3 partitions',
    );
    expect(byLabel(firstLag, 'idem_oldest_unprocessed_age_seconds', 'partition').size).toBe(3);
    const ageOf = (s: Scrape) =>
      Math.max(...byLabel(s, 'idem_oldest_unprocessed_age_seconds', 'partition').values());
    const age1 = ageOf(firstLag);
    await p.producer.send({ topic: p.topic, messages: Array.from({ length: 6 }, (_, i) => event(6 + i)) });
    const grown = await eventually(
      async () => {
        const s = (await ingest.scrape()).series;
        return sum(byLabel(s, 'idem_consumer_lag', 'partition')) === 12 && ageOf(s) >= age1 + 1 && s;
      },
      30_000,
      'the lag to reach 12 and the oldest age to grow by a second',
    );
    expect(one(grown, 'idem_events_received_total{topic="' + p.topic + '"}')).toBe(12);
    // Per-key ordering: each key's second event waits for its first to settle before it starts.
    expect(one(grown, 'idem_workflows_started_total{topic="' + p.topic + '"}')).toBe(6);

    // A worker without the relay applies them; their outbox rows wait unpublished.
    const worker = await startServed(p, running, ['worker']);
    await eventually(
      async () => {
        const s = (await ingest.scrape()).series;
        const lag = byLabel(s, 'idem_consumer_lag', 'partition');
        const age = byLabel(s, 'idem_oldest_unprocessed_age_seconds', 'partition');
        return lag.size === 3 && sum(lag) === 0 && age.size === 3 && sum(age) === 0;
      },
      60_000,
      'lag and oldest age to fall to 0',
    );
    const w = (await worker.scrape()).series;
    expect(one(w, 'idem_events_applied_total{type="account.credited"}')).toBe(12);
    expect(w.has('idem_consumer_lag')).toBe(false); // a worker owns no partition

    // Rows the relay cannot take yet (locked by another transaction) are its backlog.
    const lock = await p.db.pool.connect();
    try {
      await lock.query('begin');
      const locked = await lock.query('select seq from outbox where published_at is null for update');
      expect(locked.rowCount).toBe(12);
      const relay = await startServed(p, running, ['relay']);
      await eventually(
        async () => one((await relay.scrape()).series, 'idem_outbox_backlog') === 12,
        30_000,
        'a backlog of 12',
      );
      await lock.query('commit');
      await eventually(
        async () => {
          const s = (await relay.scrape()).series;
          return one(s, 'idem_outbox_backlog') === 0 && one(s, 'idem_outbox_published_total') === 12;
        },
        30_000,
        'the backlog published',
      );
    } finally {
      lock.release();
    }
  });
});

describe('a stuck event', () => {
  let p: Pipeline;
  const running: IdemProcess[] = [];
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  beforeAll(async () => {
    p = await createPipeline('stuck', {
      IDEM_STUCK_AFTER_MS: '2000',
      IDEM_STUCK_INTERVAL_MS: '300',
      // The handler blocks longer than an attempt may otherwise take.
      IDEM_ATTEMPT_TIMEOUT_MS: '180000',
    });
  }, 60_000);
  afterAll(async () => {
    release();
    for (const proc of running.splice(0)) await proc.stop();
    await p?.close();
  });

  test('is reported by the scanner, idem stuck and idem status, shown by idem inspect; then is not', async () => {
    const registry = ledgerRegistry().register('test.blocking', () => gate);
    const consume = await startServed(p, running, ['ingester', 'worker', 'relay'], registry);
    const id = `blocked-${crypto.randomBytes(3).toString('hex')}`;
    const workflowId = workflowIdFor(p.source, id);
    await p.producer.send({
      topic: p.topic,
      messages: [ceRecord(p.source, { id, type: 'test.blocking', data: {} }, 'held-key')],
    });

    const s = await eventually(
      async () => {
        const series = (await consume.scrape()).series;
        return (
          one(series, 'idem_stuck_events') === 1 &&
          one(series, 'idem_stuck_oldest_age_seconds') >= 2 &&
          series
        );
      },
      60_000,
      'the scanner to report one stuck event',
    );
    expect(one(s, 'idem_stuck_oldest_age_seconds')).toBeLessThan(120);

    const stuck = await idem(p, 'stuck', '--older-than', '1s');
    expect(stuck).toMatchObject({ code: 1, stderr: '' });
    expect(stuck.stdout).toMatch(/^1 stuck event\(s\) on task queue tq-stuck-/);
    expect(stuck.stdout).toContain(workflowId);
    expect(stuck.stdout).toContain('type test.blocking  key "held-key"');
    expect(stuck.stdout).toContain(
      `${p.config.temporal.webUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}/`,
    );
    const stuckJson = JSON.parse((await idem(p, 'stuck', '--older-than', '1s', '--json')).stdout) as {
      count: number;
      events: { workflowId: string; key: string; ageMs: number; webUrl: string }[];
    };
    expect(stuckJson.count).toBe(1);
    expect(stuckJson.events[0]).toMatchObject({ workflowId, key: 'held-key' });
    // Older than the event: not stuck by that measure.
    expect((await idem(p, 'stuck', '--older-than', '1h')).code).toBe(0);

    const status = await idem(p, 'status');
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/✓ Kafka .*\n✓ Temporal .*\n✓ PostgreSQL /);
    expect(status.stdout).toMatch(/Event workflows on task queue tq-stuck-\S+: 1 running, 1 STUCK/);
    const statusJson = JSON.parse((await idem(p, 'status', '--json')).stdout) as {
      components: { ok: boolean }[];
      workflows: { running: number; stuck: { count: number; oldestAgeMs: number } };
      consumer: { groupId: string; totalLag: number };
    };
    expect(statusJson.components.every((c) => c.ok)).toBe(true);
    expect(statusJson.workflows).toMatchObject({ running: 1, stuck: { count: 1 } });
    expect(statusJson.workflows.stuck.oldestAgeMs).toBeGreaterThanOrEqual(2000);
    // The keyed event holds its offset until it settles.
    expect(statusJson.consumer).toMatchObject({ groupId: p.config.kafka.groupId, totalLag: 1 });

    const inspect = await idem(p, 'inspect', id, '--source', p.source);
    expect(inspect.code).toBe(0);
    expect(inspect.stdout).toContain(`status      RUNNING`);
    expect(inspect.stdout).toContain('no row: the event was neither applied nor dead-lettered');
    expect(inspect.stdout).toContain(encodeURIComponent(workflowId));

    release();
    await eventually(
      async () => one((await consume.scrape()).series, 'idem_stuck_events') === 0,
      60_000,
      'the scanner to report none stuck',
    );
    expect(await idem(p, 'stuck', '--older-than', '1s')).toMatchObject({ code: 0 });
    const after = await idem(p, 'inspect', workflowId);
    expect(after.code).toBe(0);
    expect(after.stdout).toContain('status      COMPLETED');
    expect(after.stdout).toMatch(/status applied, attempts 1/);
    expect((await idem(p, 'inspect', 'no-such-event', '--source', p.source)).code).toBe(1);
  });
});

describe('the Temporal SDK’s metrics', () => {
  let p: Pipeline;
  let child: ChildProcess | undefined;
  beforeAll(async () => {
    p = await createPipeline('sdk-metrics');
  }, 60_000);
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child?.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await p?.close();
  });

  test('come on the same scrape as idem’s own (the built idem worker)', async () => {
    const port = await freePort();
    child = spawn(process.execPath, [BIN, 'worker', '--handlers', path.join(REPO, 'examples', 'ledger')], {
      cwd: REPO,
      env: { ...process.env, ...p.env, IDEM_METRICS_PORT: String(port), IDEM_LOG_LEVEL: 'error' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const text = await eventually(
      async () => {
        const { text } = await scrape(port);
        return /^temporal_worker_task_slots_available\{/m.test(text) && text;
      },
      60_000,
      'temporal_ metrics on /metrics',
    );
    expect(text).toMatch(/^idem_stuck_events 0$/m);
    expect(text).toMatch(/^idem_outbox_backlog 0$/m);
    expect(text).toMatch(/^temporal_num_pollers\{.*task_queue="tq-sdk-metrics-/m);
  });
});
