import type { Command } from 'commander';
import { loadConfig } from '../config';
import { ConfigError, InvalidArgumentError } from '../errors';
import { createLogger } from '../observability/logger';
import { startCodecServer } from '../temporal/codec-server';
import { encryptionCodec } from '../temporal/connection';

interface CodecServerFlags {
  host?: string;
  port?: string;
  allowNoToken?: boolean;
}

export function registerCodecServerCommand(program: Command): void {
  program
    .command('codec-server')
    .description(
      "decrypt and encrypt payloads for Temporal Web and the Temporal CLI (Temporal's remote codec protocol), " +
        'with the keys of IDEM_ENCRYPTION_KEYS; requires Authorization: Bearer $IDEM_CODEC_TOKEN',
    )
    .option('--host <address>', 'address to listen on; default IDEM_CODEC_HOST (127.0.0.1)')
    .option('--port <port>', 'port to listen on; default IDEM_CODEC_PORT (28888)')
    .option(
      '--allow-no-token',
      'serve without IDEM_CODEC_TOKEN: anyone who reaches the port can decrypt payloads (only on a trusted loopback)',
    )
    .action(async (o: CodecServerFlags) => {
      const config = loadConfig();
      const logger = createLogger(config.logLevel);
      const codec = encryptionCodec(config);
      if (!codec) {
        throw new ConfigError(
          '`idem codec-server` decrypts with the payload encryption keys and none is configured: set ' +
            'IDEM_ENCRYPTION_KEYS (or IDEM_ENCRYPTION_KEYS_FILE) to the keys the workers use; see docs/security.md.',
        );
      }
      const token = config.codecServer.token;
      if (!token && !o.allowNoToken) {
        throw new ConfigError(
          '`idem codec-server` needs an access token: set IDEM_CODEC_TOKEN (e.g. IDEM_CODEC_TOKEN=$(openssl rand -hex 32)); ' +
            'clients then send Authorization: Bearer <token>. To serve without one on a trusted loopback, pass ' +
            '--allow-no-token. See docs/security.md.',
        );
      }
      const port = o.port === undefined ? config.codecServer.port : Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new InvalidArgumentError(`--port ${o.port}: expected a port number`);
      const server = await startCodecServer({
        codec,
        token,
        corsOrigins: config.codecServer.corsOrigins,
        host: o.host ?? config.codecServer.host,
        port,
        logger,
      });
      logger.info(
        {
          url: server.url,
          keyId: codec.keyId,
          corsOrigins: config.codecServer.corsOrigins,
          tokenRequired: token !== undefined,
        },
        `codec server on ${server.url}: temporal workflow show --codec-endpoint ${server.url} ` +
          `--codec-auth "Bearer $IDEM_CODEC_TOKEN"; Temporal Web: Data Encoder endpoint ${server.url}`,
      );
      if (!token)
        logger.warn('serving without a token (--allow-no-token): anyone who reaches the port can decrypt');
      const stop = () => {
        server.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
