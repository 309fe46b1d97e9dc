/**
 * Crashes and rebalances on the real stack: a consumer process killed with SIGKILL
 * mid-stream and restarted, and a consumer group whose membership changes while
 * events flow. No event is lost, none is applied twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { groupMembers, type GroupMember } from '../support/kafka';
import {
  allCommitted,
  ceRecord,
  createPipeline,
  ledger,
  uncommitted,
  type Pipeline,
} from '../support/pipeline';
import { eventually } from '../support/poll';

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'bin', 'idem.js');
const children: ChildProcess[] = [];

function spawnConsumer(p: Pipeline): ChildProcess {
  if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  }
  // As a user runs it: the ledger example's handlers, loaded from its build output.
  const child = spawn(
    process.execPath,
    [BIN, 'consume', '--handlers', path.join(REPO, 'examples', 'ledger')],
    {
      env: { ...process.env, ...p.env, IDEM_LOG_LEVEL: 'error' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  children.push(child);
  return child;
}

async function appliedCount(p: Pipeline): Promise<number> {
  const { rows } = await p.db.pool.query<{ n: number }>(
    "select count(*)::int as n from processed_events where status = 'applied'",
  );
  return rows[0]?.n ?? 0;
}

function ledgerEvents(p: Pipeline, prefix: string, n: number, accounts: number) {
  const expected: Record<string, number> = {};
  const messages = Array.from({ length: n }, (_, i) => {
    const account = `${prefix}-${i % accounts}`;
    const amount = 1 + ((i * 7919) % 500);
    const type = i % 5 === 4 ? 'account.debited' : 'account.credited';
    expected[account] = (expected[account] ?? 0) + (type === 'account.debited' ? -amount : amount);
    return ceRecord(p.source, { id: `${prefix}-${i}`, type, data: { account, amount } }, account);
  });
  return { messages, expected };
}

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

describe('a consumer killed with SIGKILL mid-stream', () => {
  let p: Pipeline;
  beforeAll(async () => {
    p = await createPipeline('crash', { IDEM_ATTEMPT_TIMEOUT_MS: '5000' });
  }, 60_000);
  afterAll(async () => {
    await p?.close();
  });

  test('and restarted loses nothing and applies nothing twice', async () => {
    const prefix = `crash-${crypto.randomUUID().slice(0, 8)}`;
    const { messages, expected } = ledgerEvents(p, prefix, 300, 12);
    await p.producer.send({ topic: p.topic, messages });

    const first = spawnConsumer(p);
    await eventually(
      async () => (await appliedCount(p)) >= 60,
      90_000,
      '60 events applied by the first consumer',
    );
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const atKill = await appliedCount(p);
    expect(atKill).toBeLessThan(300);
    // Killed mid-stream: the group's committed offsets stop short of the end, so the
    // restarted consumer must take over from them.
    expect(await uncommitted(p)).toBeGreaterThan(0n);

    const second = spawnConsumer(p);
    // The restarted consumer commits past the crash point, up to the end of every partition.
    await allCommitted(p, undefined, 120_000);
    await eventually(async () => (await appliedCount(p)) === 300, 120_000, 'all 300 applied');
    expect(await ledger(p, prefix)).toEqual({ balances: expected, entries: 300 });

    second.kill('SIGTERM');
    const code = await new Promise((r) => second.once('exit', r));
    expect(code).toBe(0);
  }, 300_000);
});

describe('a consumer group whose membership changes while events flow', () => {
  let p: Pipeline;
  beforeAll(async () => {
    p = await createPipeline('rebalance');
  }, 60_000);
  afterAll(async () => {
    await p?.close();
  });

  /** The group's members once it is stable with `count` members that share all three partitions. */
  async function stableGroup(count: number, what: string): Promise<GroupMember[]> {
    return eventually(
      async () => {
        const g = await groupMembers(p.kafka, p.config.kafka.groupId, p.topic);
        const held = g.members.flatMap((m) => m.partitions).sort();
        const ok =
          g.state === 'Stable' &&
          g.members.length === count &&
          g.members.every((m) => m.partitions.length > 0) &&
          held.join() === '0,1,2';
        return ok ? g.members : undefined;
      },
      60_000,
      what,
    );
  }

  test('hands every event off exactly once across rebalances', async () => {
    const prefix = `rb-${crypto.randomUUID().slice(0, 8)}`;
    const { messages, expected } = ledgerEvents(p, prefix, 240, 9);
    const a = await p.start(['ingester', 'worker']);
    await p.producer.send({ topic: p.topic, messages: messages.slice(0, 80) });
    const [alone] = await stableGroup(1, 'the first consumer to hold every partition');

    await p.start(['ingester', 'worker']); // joins: rebalance
    const shared = await stableGroup(2, 'a rebalance that shares the partitions between two consumers');
    // Each holds some and neither all: partitions moved from the first consumer to the second.
    expect(shared.every((m) => m.partitions.length < 3)).toBe(true);

    await p.producer.send({ topic: p.topic, messages: messages.slice(80, 160) });
    await eventually(async () => (await appliedCount(p)) >= 100, 90_000, '100 applied');
    await a.stop(); // leaves: rebalance, the second takes every partition
    const [survivor] = await stableGroup(1, 'the second consumer to take every partition');
    expect(survivor?.memberId).not.toBe(alone?.memberId);
    expect(shared.map((m) => m.memberId)).toContain(survivor?.memberId);

    await p.producer.send({ topic: p.topic, messages: messages.slice(160) });
    await allCommitted(p, undefined, 120_000);
    await eventually(async () => (await appliedCount(p)) === 240, 120_000, 'all 240 applied');
    expect(await ledger(p, prefix)).toEqual({ balances: expected, entries: 240 });
  }, 300_000);
});
