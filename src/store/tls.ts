/**
 * TLS to PostgreSQL, from DATABASE_URL's libpq parameters: `sslmode`, `sslrootcert`, `sslcert`,
 * `sslkey`, with libpq's meanings. node-postgres reads these parameters itself but gives them
 * other meanings (8.x treats `require` and `verify-ca` as `verify-full`; without `sslmode` it
 * follows PGSSLMODE from the environment), so idem takes them out of the URL and hands pg an
 * explicit `ssl` option instead. Every PostgreSQL connection idem makes from a URL goes through
 * {@link pgConnectionConfig}.
 *
 * | sslmode | TLS | server certificate checked | host name checked |
 * | --- | --- | --- | --- |
 * | (none), `disable` | no | | |
 * | `require` | yes | only with `sslrootcert` (then as `verify-ca`) | no |
 * | `verify-ca` | yes | against `sslrootcert` (required) | no |
 * | `verify-full` | yes | against `sslrootcert`, else the system's CAs (`sslrootcert=system` too) | yes |
 *
 * `allow` and `prefer` (plaintext or TLS, whichever the server takes) are refused: node-postgres
 * cannot fall back from one to the other. `sslcert` + `sslkey` present a client certificate.
 */
import fs from 'node:fs';
import type tls from 'node:tls';
import { ConfigError } from '../errors';

export type PgSslMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';

export interface PgTls {
  mode: PgSslMode;
  /** PEM file of the CA(s) the server's certificate must chain to; undefined: the system's. */
  rootCert?: string;
  cert?: string;
  key?: string;
}

const TLS_PARAMS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey'] as const;
const MODES: readonly string[] = ['disable', 'require', 'verify-ca', 'verify-full'];

function params(url: string): URLSearchParams | undefined {
  try {
    return new URL(url).searchParams;
  } catch {
    return undefined;
  }
}

function readable(file: string): string | undefined {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'unreadable';
  }
}

/** What is wrong with DATABASE_URL's TLS parameters, each with its fix; [] when nothing is. */
export function pgTlsProblems(url: string): string[] {
  const q = params(url);
  if (!q) return [];
  const problems: string[] = [];
  const mode = q.get('sslmode');
  const files = (['sslrootcert', 'sslcert', 'sslkey'] as const).filter((p) => q.get(p));
  if (mode === null) {
    if (files.length > 0)
      problems.push(
        `${files.join(', ')} given without sslmode: add sslmode=verify-full (or verify-ca, require)`,
      );
    return problems;
  }
  if (mode === 'allow' || mode === 'prefer') {
    return [
      `sslmode=${mode} is not supported: node-postgres cannot fall back between TLS and plaintext. ` +
        'Use sslmode=verify-full (TLS, certificate and host name checked), require (TLS, unchecked) or disable',
    ];
  }
  if (!MODES.includes(mode))
    return [`sslmode=${mode} is not a libpq sslmode: use disable, require, verify-ca or verify-full`];
  for (const other of ['ssl', 'uselibpqcompat', 'sslnegotiation', 'sslpassword'])
    if (q.has(other)) problems.push(`${other}= is node-postgres' own parameter: with sslmode, leave it out`);
  if (mode === 'disable' && files.length > 0)
    problems.push(`sslmode=disable with ${files.join(', ')}: remove them or choose a TLS sslmode`);
  if (mode === 'verify-ca' && (!q.get('sslrootcert') || q.get('sslrootcert') === 'system'))
    problems.push(
      'sslmode=verify-ca needs sslrootcert=<PEM file of the CA that signed the server certificate>',
    );
  if (q.get('sslrootcert') === 'system' && mode !== 'verify-full')
    problems.push('sslrootcert=system goes with sslmode=verify-full (as in libpq)');
  if (Boolean(q.get('sslcert')) !== Boolean(q.get('sslkey')))
    problems.push('a client certificate needs both sslcert and sslkey (PEM files)');
  for (const p of files) {
    const file = q.get(p) as string;
    if (p === 'sslrootcert' && file === 'system') continue;
    const why = readable(file);
    if (why) problems.push(`${p}=${file} cannot be read (${why}): give the path of a readable PEM file`);
  }
  return problems;
}

/** The TLS settings of a URL that passed {@link pgTlsProblems}; undefined for none. */
export function pgTls(url: string): PgTls | undefined {
  const q = params(url);
  const mode = q?.get('sslmode');
  if (!q || !mode || mode === 'disable') return undefined;
  const rootCert = q.get('sslrootcert');
  return {
    mode: mode as PgSslMode,
    ...(rootCert && rootCert !== 'system' ? { rootCert } : {}),
    ...(q.get('sslcert') ? { cert: q.get('sslcert') as string, key: q.get('sslkey') as string } : {}),
  };
}

/** Node's TLS options for pg; the files are read here. */
export function pgSslOptions(t: PgTls): tls.ConnectionOptions {
  const read = (f: string) => fs.readFileSync(f, 'utf8');
  const ca = t.rootCert ? { ca: read(t.rootCert) } : {};
  const client = t.cert && t.key ? { cert: read(t.cert), key: read(t.key) } : {};
  const noHostCheck = { checkServerIdentity: () => undefined };
  switch (t.mode) {
    case 'require':
      return t.rootCert ? { ...ca, ...client, ...noHostCheck } : { ...client, rejectUnauthorized: false };
    case 'verify-ca':
      return { ...ca, ...client, ...noHostCheck };
    default:
      return { ...ca, ...client };
  }
}

/**
 * `connectionString` (without the TLS parameters) and `ssl` for `new Pool()` / `new Client()`.
 * Throws when the URL's TLS parameters are invalid (configuration has reported them already).
 */
export function pgConnectionConfig(url: string): {
  connectionString: string;
  ssl: false | tls.ConnectionOptions;
} {
  const problems = pgTlsProblems(url);
  if (problems.length > 0) throw new ConfigError(`DATABASE_URL: ${problems.join('; ')}`);
  const t = pgTls(url);
  let connectionString = url;
  const q = params(url);
  if (q && TLS_PARAMS.some((p) => q.has(p))) {
    const u = new URL(url);
    for (const p of TLS_PARAMS) u.searchParams.delete(p);
    connectionString = u.toString();
  }
  return { connectionString, ssl: t ? pgSslOptions(t) : false };
}
