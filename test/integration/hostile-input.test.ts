/**
 * Hostile input through the real pipeline (issue 9): the corpus of test/support/hostile-corpus.ts
 * (not JSON, nesting 10,000 deep, 900 KB values, invalid UTF-8 in value, key and headers, control
 * characters and ":"/"/" in ids, 1,000+ character ids, wrong-typed fields, conflicting binary-mode
 * headers, bad amounts, an unknown type), produced as raw records between valid events on the
 * same keys, consumed by a real `idem consume` process (the ledger example's handlers) on the
 * real Kafka, Temporal and PostgreSQL.
 *
 * Checks: each hostile record lands in the DLQ exactly once with its reason (and `idem dlq list`
 * shows it), every valid event is applied exactly once, the consumer stays alive and commits its
 * offsets to the end of the topic, and no key stays blocked: the keys a refused event parked are
 * released by the operator's `idem dlq skip`, and their parked events are then applied.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listParkedKeys } from '../../src/store/sql/key-parking';
import { hostileCorpus, type CorpusRecord } from '../support/hostile-corpus';
import { readAll, type TopicRecord } from '../support/kafka';
import { allCommitted, createPipeline, type Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'bin', 'idem.js');

let p: Pipeline;
let consumer: ChildProcess | undefined;
const logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'idem-hostile-')), 'consume.log');
const logs = () => fs.readFileSync(logFile, 'utf8');
const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

beforeAll(async () => {
  if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  // The largest values the corpus holds (900 KB) are valid events: allow them.
  p = await createPipeline('hostile', { IDEM_MAX_EVENT_BYTES: '1000000' });
}, 120_000);

afterAll(async () => {
  if (consumer && alive(consumer)) consumer.kill('SIGKILL');
  await p?.close();
});

/** `idem <args>` with the pipeline's environment; its stdout. */
function idem(...args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...p.env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`idem ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

interface Sent extends CorpusRecord {
  partition: number;
  offset: string;
}

/** Produces the records one by one (a 900 KB record fills a batch alone), noting where each landed. */
async function produce(records: CorpusRecord[]): Promise<Sent[]> {
  const sent: Sent[] = [];
  for (const r of records) {
    const [meta] = await p.producer.send({
      topic: p.topic,
      acks: -1,
      messages: [{ key: r.key, value: r.value, headers: { ...r.headers, 'x-case': r.name } }],
    });
    if (!meta?.baseOffset) throw new Error(`no offset for ${r.name}`);
    sent.push({ ...r, partition: meta.partition, offset: meta.baseOffset });
  }
  return sent;
}

const where = (r: { partition: number | string; offset: string }) => `${r.partition}@${r.offset}`;

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await p.db.pool.query<{ n: string }>(sql, params);
  return Number(rows[0]?.n ?? 0);
}

test('every hostile record is dead-lettered once with its reason; every valid event is applied once; nothing crashes or stays blocked', async () => {
  const tag = crypto.randomBytes(3).toString('hex');
  const corpus = hostileCorpus(p.source, tag);
  const applied = corpus.filter((r) => r.outcome.kind === 'applied');
  const atIngest = corpus.filter((r) => r.outcome.kind === 'ingest');
  const byHandler = corpus.filter((r) => r.outcome.kind === 'handler');

  const out = fs.openSync(logFile, 'w');
  consumer = spawn(process.execPath, [BIN, 'consume', '--handlers', path.join(REPO, 'examples', 'ledger')], {
    env: { ...process.env, ...p.env, IDEM_LOG_LEVEL: 'info' },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  await eventually(() => logs().includes('"msg":"idem running"'), 120_000, 'idem consume running');

  const sent = await produce(corpus);
  const hostile = new Map(sent.filter((r) => r.outcome.kind !== 'applied').map((r) => [where(r), r]));

  // Offsets committed to the end: no record blocks its partition, refused and parked ones included.
  await allCommitted(p, undefined, 240_000);
  const dlq = await eventually(
    async () => {
      const all = await readAll(p.kafka, p.dlqTopic);
      return all.length >= hostile.size && all;
    },
    120_000,
    `${hostile.size} dead-letter records`,
  );

  // Each hostile record exactly once in the DLQ, with its reason and error; nothing else there.
  const seen = new Map<string, TopicRecord[]>();
  for (const d of dlq) {
    const at = `${d.headers['idem-original-partition']}@${d.headers['idem-original-offset']}`;
    seen.set(at, [...(seen.get(at) ?? []), d]);
  }
  const problems: string[] = [];
  for (const [at, r] of hostile) {
    const copies = seen.get(at) ?? [];
    const o = r.outcome as Exclude<CorpusRecord['outcome'], { kind: 'applied' }>;
    const got = copies[0]?.headers;
    if (copies.length !== 1) problems.push(`${r.name}: ${copies.length} dead-letter records`);
    else if (got?.['idem-reason'] !== o.reason || !o.error.test(got['idem-error'] ?? ''))
      problems.push(`${r.name}: ${got?.['idem-reason']} ${JSON.stringify(got?.['idem-error'])}`);
    else if ((got['idem-workflow-id'] === undefined) !== (o.kind === 'ingest'))
      problems.push(`${r.name}: dead-lettered at the wrong stage`);
  }
  for (const at of seen.keys())
    if (!hostile.has(at))
      problems.push(`unexpected dead-letter record of ${at}: ${seen.get(at)?.[0]?.headers['x-case']}`);
  expect(problems).toEqual([]);

  // `idem dlq list` shows them all, with the keys the refused events hold, and prints no control
  // character of the records (an escape sequence in an id or a value must not reach the terminal).
  const list = idem('dlq', 'list');
  const reasons = new Map<string, number>();
  for (const r of hostile.values()) {
    const reason = (r.outcome as { reason: string }).reason;
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  expect(list).toMatch(new RegExp(`^${hostile.size} record\\(s\\): `, 'm'));
  for (const [reason, n] of reasons)
    expect(list).toMatch(new RegExp(`record\\(s\\): .*\\b${reason} ${n}\\b`));
  expect(list.match(/holds key /g)).toHaveLength(byHandler.length);
  // eslint-disable-next-line no-control-regex
  expect(list).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);

  // The operator gives up on the refused events: their keys' parked events go on.
  const skipped = idem('dlq', 'skip', '--since', '1h');
  expect(skipped).toMatch(new RegExp(`skipped ${byHandler.length}\\b`));
  await eventually(async () => (await listParkedKeys(p.db.pool)).length === 0, 120_000, 'every key released');

  // Every valid event applied exactly once: one dedup row, one ledger entry, balances as produced.
  await eventually(
    async () =>
      (await count("select count(*) n from processed_events where status = 'applied'")) >= applied.length,
    120_000,
    `${applied.length} events applied`,
  );
  expect(await count("select count(*) n from processed_events where status = 'applied'")).toBe(
    applied.length,
  );
  expect(await count("select count(*) n from processed_events where status = 'dead_lettered'")).toBe(
    byHandler.length,
  );
  expect(await count('select count(*) n from ledger_entries')).toBe(applied.length);
  const expected: Record<string, number> = {};
  for (const r of applied) {
    const o = r.outcome as Extract<CorpusRecord['outcome'], { kind: 'applied' }>;
    expected[o.account] = (expected[o.account] ?? 0) + o.amount;
  }
  const { rows } = await p.db.pool.query<{ account: string; balance: string }>(
    'select account, balance from account_balances',
  );
  expect(Object.fromEntries(rows.map((r) => [r.account, Number(r.balance)]))).toEqual(expected);
  // Odd but valid ids were applied under a workflow ID built safely.
  for (const r of applied) {
    const o = r.outcome as Extract<CorpusRecord['outcome'], { kind: 'applied' }>;
    if (!o.dedupKey) continue;
    const id = (JSON.parse(r.value.toString()) as { id: string }).id;
    const { rows: keys } = await p.db.pool.query<{ event_id: string }>(
      'select event_id from processed_events where id = $1',
      [id],
    );
    expect(keys.map((k) => k.event_id)).toEqual([expect.stringMatching(o.dedupKey)]);
  }
  // Rejected at ingest: nothing of them in the store.
  expect(await count('select count(*) n from processed_events')).toBe(applied.length + byHandler.length);
  expect(atIngest.length).toBeGreaterThan(0);

  // A record anyone could have written to the dead-letter topic, with an escape sequence in its
  // headers: `idem dlq list` shows it escaped.
  await p.producer.send({
    topic: p.dlqTopic,
    messages: [
      {
        key: null,
        value: 'x',
        headers: {
          'idem-reason': 'forged',
          'idem-error': '\u001b[2J\u001b]0;owned\u0007',
          'idem-event-id': '\u009b1m',
        },
      },
    ],
  });
  const forged = idem('dlq', 'list', '--reason', 'forged');
  expect(forged).toContain('\\u001b[2J\\u001b]0;owned\\u0007');
  expect(forged).toContain('\\u009b1m');
  // eslint-disable-next-line no-control-regex
  expect(forged).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);

  // The consumer lived through it all, and stops cleanly.
  await allCommitted(p);
  expect(alive(consumer)).toBe(true);
  expect(logs()).not.toMatch(/unexpected error|kafka consumer crashed|Maximum call stack/);
  const exited = new Promise<number | null>((r) => consumer?.on('exit', (code) => r(code)));
  consumer.kill('SIGTERM');
  expect(await exited).toBe(0);
}, 600_000);
