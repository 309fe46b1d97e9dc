/**
 * Payload encryption on the real pipeline: events go through Kafka, the ingester and a worker into
 * a Temporal dev server of this test's own (so its SQLite file is small and holds only this test's
 * histories), and the file's bytes are searched for the event data. With IDEM_ENCRYPTION_KEYS the
 * data of an applied event, and the message of a handler's failure, are nowhere in the file; the
 * same run without keys finds both, so the search does see plaintext when it is there.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection, WorkflowFailedError } from '@temporalio/client';
import { PermanentHandlerError } from '../../src/errors';
import { parseConfig } from '../../src/config';
import { workflowIdFor } from '../../src/events/identity';
import { temporalClient, temporalConnectionOptions } from '../../src/temporal/connection';
import { defaultPayloadConverter } from '@temporalio/common';
import {
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  parseEncryptionKeys,
  type EncryptionKey,
} from '../../src/temporal/encryption-codec';
import { startOwnTemporal, sqliteFilesContain, type OwnTemporal } from '../support/own-servers';
import {
  allCommitted,
  ceRecord,
  createPipeline,
  ledger,
  ledgerRegistry,
  type Pipeline,
} from '../support/pipeline';
import { eventually } from '../support/poll';

const REFUSED = 'marker.refused';

let dir: string;
let temporal: OwnTemporal;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-payload-enc-'));
  temporal = await startOwnTemporal(dir);
}, 180_000);

afterAll(async () => {
  await temporal?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A marker in two random halves: a value split across two SQLite pages still leaves one half whole. */
function marker(): { whole: string; halves: [string, string] } {
  const a = crypto.randomBytes(8).toString('hex');
  const b = crypto.randomBytes(8).toString('hex');
  return { whole: `${a}${b}`, halves: [a, b] };
}
const inDatabase = (m: Marker) => m.halves.some((h) => sqliteFilesContain(temporal.dbFile, h));

type Marker = ReturnType<typeof marker>;

/** Runs one ledger event whose account carries `data`, and one event whose handler fails with
 * `failure` in its message, through a consumer on the test's Temporal; returns their workflow IDs. */
async function runEvents(p: Pipeline, data: Marker, failure: Marker) {
  const registry = ledgerRegistry().register(REFUSED, () => {
    throw new PermanentHandlerError(`refused: ${failure.whole}`);
  });
  await p.start(undefined, registry);
  const account = `acct-${data.whole}`;
  const applied = { id: crypto.randomUUID(), type: 'account.credited', data: { account, amount: 4200 } };
  const refused = { id: crypto.randomUUID(), type: REFUSED, data: {} };
  await p.producer.send({
    topic: p.topic,
    messages: [ceRecord(p.source, applied, 'k-applied'), ceRecord(p.source, refused, 'k-refused')],
  });
  await allCommitted(p);
  await eventually(async () => (await ledger(p, account)).entries === 1, 60_000, 'the effect');
  return {
    applied: workflowIdFor(p.source, applied.id),
    refused: workflowIdFor(p.source, refused.id),
    account,
  };
}

test('with IDEM_ENCRYPTION_KEYS no event data and no failure message is in Temporal database file', async () => {
  const data = marker();
  const failure = marker();
  const p = await createPipeline('payload-enc', {
    TEMPORAL_ADDRESS: temporal.address,
    IDEM_ENCRYPTION_KEYS: `test-k1:${crypto.randomBytes(32).toString('base64')}`,
  });
  const connection = await Connection.connect(temporalConnectionOptions(p.config));
  try {
    const ids = await runEvents(p, data, failure);
    // A client with the codec reads the histories as they were written: the data is there.
    const client = temporalClient(p.config, connection);
    expect(await client.workflow.getHandle(ids.applied).result()).toMatchObject({ outcome: 'applied' });
    const failed = await client.workflow
      .getHandle(ids.refused)
      .result()
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(WorkflowFailedError);
    expect(JSON.stringify((failed as WorkflowFailedError).cause)).toContain(failure.whole);
    const history = await client.workflow.getHandle(ids.applied).fetchHistory();
    const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    expect(Buffer.from(input?.metadata?.encoding ?? []).toString()).toBe(ENCRYPTED_ENCODING);
    expect(JSON.stringify(await client.workflow.getHandle(ids.applied).describe())).not.toContain(data.whole);

    expect(inDatabase(data)).toBe(false);
    expect(inDatabase(failure)).toBe(false);
  } finally {
    await connection.close();
    await p.close();
  }
}, 240_000);

test('control: without keys the same events leave their data and the failure message in the file', async () => {
  const data = marker();
  const failure = marker();
  const p = await createPipeline('payload-plain', { TEMPORAL_ADDRESS: temporal.address });
  try {
    const ids = await runEvents(p, data, failure);
    const client = temporalClient(p.config, p.temporal.connection);
    await client.workflow
      .getHandle(ids.refused)
      .result()
      .catch(() => undefined);
    await eventually(
      () => inDatabase(data) && inDatabase(failure),
      30_000,
      'the plaintext markers in the files',
    );
    expect([...data.halves, ...failure.halves].every((h) => sqliteFilesContain(temporal.dbFile, h))).toBe(
      true,
    );
  } finally {
    await p.close();
  }
}, 240_000);

test('rotation across processes: a worker without the key a payload names waits for one that has it', async () => {
  const k1 = `k1:${crypto.randomBytes(32).toString('base64')}`;
  const k2 = `k2:${crypto.randomBytes(32).toString('base64')}`;
  const keys = (list: string) => (parseEncryptionKeys(list) as { keys: EncryptionKey[] }).keys;
  // The ingester still encrypts with k1; a worker already rotated to k2 alone cannot read that.
  const p = await createPipeline('payload-rotate', {
    TEMPORAL_ADDRESS: temporal.address,
    IDEM_ENCRYPTION_KEYS: k1,
  });
  try {
    await p.start(['ingester']);
    const stale = await p.start(['worker'], undefined, { IDEM_ENCRYPTION_KEYS: k2 });
    const account = `acct-rotate-${crypto.randomBytes(4).toString('hex')}`;
    const ev = { id: crypto.randomUUID(), type: 'account.credited', data: { account, amount: 100 } };
    await p.producer.send({ topic: p.topic, messages: [ceRecord(p.source, ev, account)] });
    // An operator's client, already rotated (both keys), reads it whatever key wrote it.
    const client = temporalClient(
      parseConfig({ ...p.env, IDEM_ENCRYPTION_KEYS: `${k2},${k1}` }),
      p.temporal.connection,
    );
    const handle = client.workflow.getHandle(workflowIdFor(p.source, ev.id));
    // The workflow task fails, naming the key it lacks; Temporal keeps the workflow and retries.
    const failure = await eventually(
      async () =>
        (await handle.fetchHistory()).events?.find((e) => e.workflowTaskFailedEventAttributes)
          ?.workflowTaskFailedEventAttributes?.failure,
      60_000,
      'a failed workflow task',
    );
    // Its message is encoded too (with the worker's key, k2).
    const [attrs] = await new EncryptionCodec(keys(k2)).decode([failure!.encodedAttributes!]);
    expect(defaultPayloadConverter.fromPayload<{ message: string }>(attrs!).message).toContain(
      'a payload is encrypted with key id "k1", which is not among the configured keys (k2)',
    );
    expect((await ledger(p, account)).entries).toBe(0);
    expect((await handle.describe()).status.name).toBe('RUNNING');

    // Rotation done right: the new key first, the old one still there to decrypt.
    await stale.stop();
    await p.start(['worker'], undefined, { IDEM_ENCRYPTION_KEYS: `${k2},${k1}` });
    await eventually(
      async () => (await ledger(p, account)).entries === 1,
      120_000,
      'the effect after rotation',
    );
    expect(await handle.result()).toMatchObject({ outcome: 'applied' });
  } finally {
    await p.close();
  }
}, 300_000);
