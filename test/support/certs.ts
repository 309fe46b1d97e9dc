/**
 * Throw-away X.509 certificates for the transport-security tests, made with openssl at test time
 * in the test's temporary directory (never committed): a CA, server and client certificates it
 * signs, and an unrelated CA that a client must refuse.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface Pem {
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A self-signed CA: `<dir>/<name>.crt` and `.key`. */
export function makeCa(dir: string, name: string): Pem {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-noenc',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  return { cert, key };
}

/**
 * A certificate signed by `ca`, good for TLS servers and clients: common name `cn`, subject
 * alternative names `san` (e.g. `DNS:localhost`, `IP:127.0.0.1`).
 */
export function makeCert(dir: string, ca: Pem, name: string, cn: string, san: string[] = []): Pem {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(
    ext,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      ...(san.length ? [`subjectAltName=${san.join(',')}`] : []),
    ].join('\n') + '\n',
  );
  openssl(['req', '-newkey', 'rsa:2048', '-noenc', '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`], dir);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-CAcreateserial',
      '-out',
      cert,
      '-days',
      '2',
      '-extfile',
      ext,
    ],
    dir,
  );
  return { cert, key };
}

/** A PKCS#12 keystore of `pem` (and the CA chain), for a JVM server such as Kafka. */
export function pkcs12(dir: string, pem: Pem, ca: Pem, name: string, password: string): string {
  const out = path.join(dir, `${name}.p12`);
  openssl(
    [
      'pkcs12',
      '-export',
      '-inkey',
      pem.key,
      '-in',
      pem.cert,
      '-certfile',
      ca.cert,
      '-name',
      name,
      '-out',
      out,
      '-passout',
      `pass:${password}`,
    ],
    dir,
  );
  return out;
}
