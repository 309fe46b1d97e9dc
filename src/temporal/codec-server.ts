/**
 * The codec server (`idem codec-server`): Temporal's remote codec protocol over HTTP, so that
 * Temporal Web and the Temporal CLI (`--codec-endpoint`) can show payloads that idem encrypted,
 * without the keys ever leaving idem's side.
 *
 * Protocol (Temporal's samples-go codec-server/protocol.md): `POST …/encode` and `POST …/decode`,
 * only the last path segment counts (so `/{namespace}/decode` works too); the body and the answer
 * are `{"payloads":[{"metadata":{"encoding":"<base64>",…},"data":"<base64>"}]}` (the Payloads
 * message in protobuf's JSON form: bytes as base64); the clients send `X-Namespace`. Invalid
 * JSON or a payload that cannot be decoded answers 400.
 *
 * Access: every POST needs `Authorization: Bearer <IDEM_CODEC_TOKEN>` (401 otherwise), unless the
 * server was started without a token on purpose. CORS: browsers may call it from the configured
 * origins only (Temporal Web's, by default); preflights need no token, as browsers send none.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { Logger } from '../observability/logger';

/** Largest request body accepted (a history's payloads come in batches well below it). */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface CodecServerOptions {
  codec: PayloadCodec;
  /** The bearer token every request must carry; undefined: none required (explicitly allowed). */
  token: string | undefined;
  /** Origins allowed to call from a browser (CORS), e.g. `http://127.0.0.1:28233`. */
  corsOrigins: readonly string[];
  host: string;
  /** 0 picks a free port. */
  port: number;
  logger: Logger;
}

export interface CodecServer {
  /** `http://host:port`: the endpoint to give Temporal Web and the CLI. */
  url: string;
  close(): Promise<void>;
}

interface JsonPayload {
  metadata?: Record<string, string> | null;
  data?: string | null;
}

class BadRequest extends Error {}

function fromJson(p: unknown, i: number): Payload {
  if (typeof p !== 'object' || p === null) throw new BadRequest(`payloads[${i}] is not an object`);
  const { metadata, data } = p as JsonPayload;
  const bytes = (v: unknown, where: string): Uint8Array => {
    if (typeof v !== 'string') throw new BadRequest(`${where} is not a base64 string`);
    return Buffer.from(v, 'base64');
  };
  return {
    metadata: Object.fromEntries(
      Object.entries(metadata ?? {}).map(([k, v]) => [k, bytes(v, `payloads[${i}].metadata.${k}`)]),
    ),
    ...(data === undefined || data === null ? {} : { data: bytes(data, `payloads[${i}].data`) }),
  };
}

function toJson(p: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    ),
    ...(p.data ? { data: Buffer.from(p.data).toString('base64') } : {}),
  };
}

/** Constant-time comparison of the request's bearer token with the expected one. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  const digest = (s: string) => crypto.createHash('sha256').update(s).digest();
  return crypto.timingSafeEqual(digest(m[1] as string), digest(token));
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BadRequest(`body larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startCodecServer(o: CodecServerOptions): Promise<CodecServer> {
  const log = o.logger.child({ component: 'codec-server' });
  const allowed = new Set(o.corsOrigins);

  const server = http.createServer((req, res) => {
    const origin = req.headers.origin;
    if (origin && allowed.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
    }
    res.setHeader('Vary', 'Origin');
    const send = (status: number, body?: unknown) => {
      if (body === undefined) res.writeHead(status).end();
      else res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    };
    const operation = /\/(encode|decode)\/?$/.exec((req.url ?? '').split('?')[0] ?? '')?.[1] as
      'encode' | 'decode' | undefined;

    if (req.method === 'OPTIONS') {
      // A CORS preflight: browsers send no credentials with it.
      if (!origin || !allowed.has(origin) || !operation) return send(403);
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
      res.setHeader('Access-Control-Max-Age', '600');
      return send(204);
    }
    if (!operation) return send(404, { message: 'not found: POST …/encode or …/decode' });
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST, OPTIONS');
      return send(405, { message: 'use POST' });
    }
    const namespace = req.headers['x-namespace'];
    if (o.token !== undefined && !bearerMatches(req.headers.authorization, o.token)) {
      log.warn({ operation, namespace, origin }, 'codec request refused: missing or wrong bearer token');
      res.setHeader('WWW-Authenticate', 'Bearer realm="idem codec"');
      return send(401, { message: 'a valid Authorization: Bearer <token> header is required' });
    }
    void (async () => {
      try {
        const body = (await readBody(req)).toString('utf8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(body);
        } catch {
          throw new BadRequest('the body is not JSON');
        }
        const raw = (parsed as { payloads?: unknown } | null)?.payloads;
        if (!Array.isArray(raw)) throw new BadRequest('expected {"payloads": [...]}');
        const payloads = raw.map(fromJson);
        const out = operation === 'encode' ? await o.codec.encode(payloads) : await o.codec.decode(payloads);
        log.debug({ operation, namespace, payloads: out.length }, 'codec request');
        send(200, { payloads: out.map(toJson) });
      } catch (err) {
        // The protocol's answer to a payload the codec cannot handle (an unknown key id, a tampered
        // payload) is 400 with the reason; the reason names key ids, never keys or payloads.
        const message = err instanceof Error ? err.message : String(err);
        log.warn({ operation, namespace, error: message }, 'codec request failed');
        if (!res.headersSent) send(400, { message });
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
