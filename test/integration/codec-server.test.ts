/**
 * `idem codec-server` for real: the built `idem consume` (its encrypted workflow bundle) writes an
 * event's workflow into a Temporal dev server of this test's own, whose Temporal Web is pointed at
 * the codec server (`--ui-codec-endpoint`); the built `idem codec-server` then decodes a payload
 * taken from that workflow's history over HTTP, for the Temporal CLI too, and refuses requests
 * without the right bearer token.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { temporal as proto } from '@temporalio/proto';
import { workflowIdFor } from '../../src/events/identity';
import { defaultCacheDir } from '../../src/config';
import { layoutFor } from '../../src/stack/layout';
import { findTemporalCli } from '../../src/stack/temporal';
import {
  freePort,
  spawnConsume,
  spawnIdem,
  startOwnTemporal,
  type IdemChild,
  type OwnTemporal,
} from '../support/own-servers';
import { allCommitted, ceRecord, createPipeline, ledger, type Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';

const run = promisify(execFile);
const TOKEN = `codec-${crypto.randomBytes(16).toString('hex')}`;
const KEY = crypto.randomBytes(32).toString('base64');

let dir: string;
let temporal: OwnTemporal;
let p: Pipeline;
let consumer: IdemChild;
let codec: IdemChild;
let codecUrl: string;
let workflowId: string;
let account: string;
const children: IdemChild[] = [];

type JsonPayload = { metadata: Record<string, string>; data?: string };
const toJson = (pl: proto.api.common.v1.IPayload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(pl.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  ),
  ...(pl.data ? { data: Buffer.from(pl.data).toString('base64') } : {}),
});
const text = (b64: string | undefined) => Buffer.from(b64 ?? '', 'base64').toString('utf8');

function post(route: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${codecUrl}${route}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', ...headers },
    body: JSON.stringify(body),
  });
}
const auth = { Authorization: `Bearer ${TOKEN}` };

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-codec-'));
  const codecPort = await freePort();
  codecUrl = `http://127.0.0.1:${codecPort}`;
  temporal = await startOwnTemporal(dir, { ui: true, codecEndpoint: codecUrl });
  p = await createPipeline('codec', {
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_WEB_URL: temporal.webUrl as string,
    IDEM_ENCRYPTION_KEYS: `k1:${KEY}`,
    IDEM_CODEC_TOKEN: TOKEN,
    IDEM_CODEC_PORT: String(codecPort),
  });
  consumer = spawnConsume(p.env);
  children.push(consumer);
  account = `acct-codec-${crypto.randomBytes(6).toString('hex')}`;
  const ev = { id: crypto.randomUUID(), type: 'account.credited', data: { account, amount: 4200 } };
  workflowId = workflowIdFor(p.source, ev.id);
  await p.producer.send({ topic: p.topic, messages: [ceRecord(p.source, ev, account)] });
  await allCommitted(p, undefined, 120_000);
  await eventually(async () => (await ledger(p, account)).entries === 1, 60_000, 'the effect');
  codec = spawnIdem(['codec-server'], { ...p.env, IDEM_LOG_LEVEL: 'info' });
  children.push(codec);
  await eventually(
    async () => (await fetch(`${codecUrl}/decode`, { method: 'POST', body: '{}' })).status === 401,
    60_000,
    `idem codec-server on ${codecUrl}`,
  );
}, 300_000);

afterAll(async () => {
  for (const c of children) await c.stop();
  await p?.close();
  await temporal?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function startInput(): Promise<proto.api.common.v1.IPayload> {
  // The plain client of the pipeline (no codec) gets the history as Temporal stores it.
  const history = await p.temporal.workflow.getHandle(workflowId).fetchHistory();
  const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!input) throw new Error('no input payload in the history');
  return input;
}

test('the workflow history holds the payload encrypted (by the built consumer)', async () => {
  const input = await startInput();
  expect(Buffer.from(input.metadata?.encoding ?? []).toString()).toBe('binary/encrypted');
  expect(Buffer.from(input.metadata?.['encryption-key-id'] ?? []).toString()).toBe('k1');
  expect(Buffer.from(input.data ?? []).includes(account)).toBe(false);
});

test('POST /decode with the bearer token decodes a payload from the real history', async () => {
  const res = await post('/decode', { payloads: [toJson(await startInput())] }, auth);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/json');
  const body = (await res.json()) as { payloads: JsonPayload[] };
  expect(body.payloads).toHaveLength(1);
  expect(text(body.payloads[0]?.metadata.encoding)).toBe('json/plain');
  expect(JSON.parse(text(body.payloads[0]?.data))).toMatchObject({
    message: { value: expect.stringContaining(account) },
  });
  // The same under a namespace's path (the CLI's {namespace} templating): only the last segment counts.
  expect((await post('/default/decode', { payloads: [toJson(await startInput())] }, auth)).status).toBe(200);
});

test('a missing or wrong token gets 401 and nothing decoded', async () => {
  const body = { payloads: [toJson(await startInput())] };
  const refusals: Record<string, string>[] = [
    {},
    { Authorization: 'Bearer wrong-token-0123456789' },
    { Authorization: TOKEN },
  ];
  for (const headers of refusals) {
    const res = await post('/decode', body, headers);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await res.text()).not.toContain(Buffer.from(account).toString('base64').slice(0, 12));
  }
  expect((await post('/encode', { payloads: [] })).status).toBe(401);
});

test('encode then decode round-trips; an unknown key id and bad JSON answer 400', async () => {
  const plain = {
    metadata: { encoding: Buffer.from('json/plain').toString('base64') },
    data: 'eyJhIjoxfQ==',
  };
  const enc = (await (await post('/encode', { payloads: [plain] }, auth)).json()) as {
    payloads: JsonPayload[];
  };
  expect(text(enc.payloads[0]?.metadata['encryption-key-id'])).toBe('k1');
  const dec = (await (await post('/decode', enc, auth)).json()) as { payloads: JsonPayload[] };
  expect(dec.payloads).toEqual([plain]);

  const unknown = { ...enc.payloads[0], metadata: { ...enc.payloads[0]?.metadata } } as JsonPayload;
  unknown.metadata['encryption-key-id'] = Buffer.from('k-retired').toString('base64');
  const res = await post('/decode', { payloads: [unknown] }, auth);
  expect(res.status).toBe(400);
  expect(((await res.json()) as { message: string }).message).toContain('key id "k-retired"');
  const bad = await fetch(`${codecUrl}/decode`, { method: 'POST', headers: auth, body: 'not json' });
  expect(bad.status).toBe(400);
});

test("CORS: Temporal Web's origin may call it (preflight without a token); another origin may not", async () => {
  const web = new URL(temporal.webUrl as string).origin;
  const preflight = (origin: string) =>
    fetch(`${codecUrl}/decode`, {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type,x-namespace,authorization',
      },
    });
  const ok = await preflight(web);
  expect(ok.status).toBe(204);
  expect(ok.headers.get('access-control-allow-origin')).toBe(web);
  expect(ok.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
  expect(ok.headers.get('access-control-allow-methods')).toMatch(/POST/);
  const evil = await preflight('http://evil.example');
  expect(evil.status).toBe(403);
  expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  const actual = await post('/decode', { payloads: [] }, { ...auth, Origin: web });
  expect(actual.headers.get('access-control-allow-origin')).toBe(web);
});

test('Temporal Web is pointed at it, and the Temporal CLI reads the history through it with the token', async () => {
  const settings = (await (await fetch(`${temporal.webUrl}/api/v1/settings`)).json()) as {
    Codec: { Endpoint: string };
  };
  expect(settings.Codec.Endpoint).toBe(codecUrl);

  const cli = findTemporalCli(layoutFor(defaultCacheDir(process.env))) as string;
  const show = (extra: string[]) =>
    run(
      cli,
      ['workflow', 'show', '-w', workflowId, '--address', temporal.address, '-o', 'json'].concat(
        '--no-json-shorthand-payloads',
        extra,
      ),
      { maxBuffer: 10 * 1024 * 1024 },
    ).then(
      (r) => ({ ok: true, out: r.stdout, err: r.stderr }),
      (e: { stdout?: string; stderr?: string }) => ({ ok: false, out: e.stdout ?? '', err: e.stderr ?? '' }),
    );
  const input = (out: string): JsonPayload | undefined =>
    (
      JSON.parse(out) as {
        events: { workflowExecutionStartedEventAttributes?: { input?: { payloads?: JsonPayload[] } } }[];
      }
    ).events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];

  const decoded = await show(['--codec-endpoint', codecUrl, '--codec-auth', `Bearer ${TOKEN}`]);
  expect(decoded.ok).toBe(true);
  expect(text(input(decoded.out)?.metadata.encoding)).toBe('json/plain');
  expect(text(input(decoded.out)?.data)).toContain(account);

  const raw = await show([]);
  expect(text(input(raw.out)?.metadata.encoding)).toBe('binary/encrypted');
  expect(text(input(raw.out)?.data)).not.toContain(account);

  // Without the token the codec server refuses, and the CLI gets nothing decoded.
  const refused = await show(['--codec-endpoint', codecUrl]);
  expect(refused.out + refused.err).not.toContain(Buffer.from(account).toString('base64').slice(0, 16));
  if (refused.ok) expect(text(input(refused.out)?.metadata.encoding)).toBe('binary/encrypted');
  else expect(refused.err).toMatch(/failed|401|Unauthorized/i);
});

test('its log shows neither the token nor the key', () => {
  expect(codec.output()).toContain('codec server on');
  expect(codec.output()).toContain('codec request refused');
  expect(codec.output()).not.toContain(TOKEN);
  expect(codec.output()).not.toContain(KEY);
  expect(consumer.output()).not.toContain(KEY);
});

test('it refuses to start without a token unless --allow-no-token, and without keys', async () => {
  const { IDEM_CODEC_TOKEN: _t, ...noToken } = p.env;
  const refused = spawnIdem(['codec-server'], { ...noToken, IDEM_CODEC_PORT: String(await freePort()) });
  children.push(refused);
  expect(await refused.exited).toBe(1);
  expect(refused.output()).toContain('needs an access token: set IDEM_CODEC_TOKEN');

  const { IDEM_ENCRYPTION_KEYS: _k, ...noKeys } = p.env;
  const keyless = spawnIdem(['codec-server'], { ...noKeys, IDEM_CODEC_PORT: String(await freePort()) });
  children.push(keyless);
  expect(await keyless.exited).toBe(1);
  expect(keyless.output()).toContain('none is configured: set IDEM_ENCRYPTION_KEYS');

  const port = await freePort();
  const open = spawnIdem(['codec-server', '--allow-no-token', '--port', String(port)], noToken);
  children.push(open);
  await eventually(
    async () =>
      (await fetch(`http://127.0.0.1:${port}/decode`, { method: 'POST', body: '{"payloads":[]}' })).ok,
    60_000,
    'the codec server without a token',
  );
  expect(open.output()).toContain('serving without a token');
});
