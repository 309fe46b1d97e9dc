/**
 * The Dockerfile, as far as it can be checked without a Docker engine: hadolint finds nothing; the
 * build context (.dockerignore) holds what the stages copy and none of node_modules, dist, .git or
 * .env; and the runtime stage's file set, assembled here from its COPY lines (the build output,
 * production dependencies only, the package files, idem's migrations), runs idem: the CLI, the
 * ledger handlers, the migrations, the workflow bundle, /live and /ready while Kafka is out of
 * reach, and a SIGTERM that ends it with exit 0. Not checked: the image itself (no `docker build`
 * here), the base image, npm inside it.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freeLoopbackPort } from '../../src/net';

const REPO = path.resolve(__dirname, '..', '..');

interface Copy {
  from?: string;
  sources: string[];
  dest: string;
}
interface Stage {
  name: string;
  workdir: string;
  copies: Copy[];
  user?: string;
  entrypoint?: string[];
  cmd?: string[];
}

/** The Dockerfile's stages with their WORKDIR, COPY, USER, ENTRYPOINT and CMD (exec form). */
function parseDockerfile(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of lines) {
    const [instr = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    const stage = stages[stages.length - 1];
    switch (instr.toUpperCase()) {
      case 'FROM':
        stages.push({
          name: /\sAS\s+(\S+)/i.exec(line)?.[1] ?? String(stages.length),
          workdir: '/',
          copies: [],
        });
        break;
      case 'WORKDIR':
        if (stage) stage.workdir = path.posix.resolve(stage.workdir, args);
        break;
      case 'COPY': {
        const words = rest.filter((w) => !w.startsWith('--') || w.startsWith('--from='));
        const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
        const paths = words.filter((w) => !w.startsWith('--from='));
        stage?.copies.push({
          ...(from ? { from } : {}),
          sources: paths.slice(0, -1),
          dest: paths[paths.length - 1] ?? '',
        });
        break;
      }
      case 'USER':
        if (stage) stage.user = args;
        break;
      case 'ENTRYPOINT':
        if (stage) stage.entrypoint = JSON.parse(args) as string[];
        break;
      case 'CMD':
        if (stage) stage.cmd = JSON.parse(args) as string[];
        break;
    }
  }
  return stages;
}

/** .dockerignore's patterns as this repository uses them: names, paths, `*.ext`. */
function ignored(relPath: string, patterns: string[]): boolean {
  return patterns.some((p) => {
    if (p.startsWith('*.')) return path.posix.basename(relPath).endsWith(p.slice(1));
    return relPath === p || relPath.startsWith(`${p}/`);
  });
}

const stages = parseDockerfile(fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8'));
const runtime = stages[stages.length - 1] as Stage;
const dockerignore = fs
  .readFileSync(path.join(REPO, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

test('hadolint finds nothing in the Dockerfile (and does flag a bad one)', () => {
  const hadolint = process.env.IDEM_HADOLINT;
  if (!hadolint) throw new Error('IDEM_HADOLINT is not set: the deploy project global setup provides it');
  const r = spawnSync(hadolint, ['--no-color', 'Dockerfile'], { cwd: REPO, encoding: 'utf8' });
  expect(r.stdout + r.stderr).toBe('');
  expect(r.status).toBe(0);
  const bad = spawnSync(hadolint, ['--no-color', '-'], { input: 'FROM node\nUSER root\n', encoding: 'utf8' });
  expect(bad.stdout).toMatch(/DL3006/);
  expect(bad.stdout).toMatch(/DL3002/);
  expect(bad.status).not.toBe(0);
});

test('three stages; the runtime runs non-root with `node bin/idem.js consume`', () => {
  expect(stages.map((s) => s.name)).toEqual(['build', 'deps', 'runtime']);
  expect(runtime.user).toBe('1000:1000');
  expect(runtime.entrypoint).toEqual(['node', 'bin/idem.js']);
  expect(runtime.cmd).toEqual(['consume']);
  // Development dependencies stay in the build stage.
  const deps = fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8');
  expect(deps).toMatch(/npm install --omit=dev/);
});

test('the build context holds what the stages copy, and none of node_modules, dist, .git, .env', () => {
  for (const p of ['node_modules', 'dist', '.git', '.env', 'dist/src/app.js', 'node_modules/pg'])
    expect([p, ignored(p, dockerignore)]).toEqual([p, true]);
  const fromContext = stages.flatMap((s) => s.copies.filter((c) => !c.from).flatMap((c) => c.sources));
  expect(fromContext.length).toBeGreaterThan(5);
  for (const src of fromContext) {
    expect([src, fs.existsSync(path.join(REPO, src))]).toEqual([src, true]);
    expect([src, ignored(src, dockerignore)]).toEqual([src, false]);
  }
  // Everything the build reads: tsconfig.build.json's includes and the build scripts.
  const build = stages.find((s) => s.name === 'build') as Stage;
  const copied = build.copies.flatMap((c) => c.sources);
  for (const needed of [
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'tsconfig.build.json',
    'src',
    'examples',
    'scripts',
  ])
    expect(copied).toContain(needed);
});

/** The production dependencies' top-level directories (what `npm install --omit=dev` keeps). */
function productionPackages(): string[] {
  const r = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: REPO, encoding: 'utf8' });
  const top = path.join(REPO, 'node_modules');
  return [
    ...new Set(
      r.stdout
        .split('\n')
        .filter((p) => p.startsWith(top + path.sep))
        .map((p) => path.relative(top, p).split(path.sep))
        .filter((parts) => !parts.includes('node_modules'))
        .map((parts) => parts.join('/')),
    ),
  ];
}

/** The runtime stage's /app, assembled from its COPY lines. */
function assembleRuntime(dir: string): void {
  const build = stages.find((s) => s.name === 'build') as Stage;
  for (const c of runtime.copies) {
    const dest = path.join(dir, c.dest);
    if (c.from === 'deps') {
      expect(c.sources).toEqual(['/app/node_modules']);
      for (const pkg of productionPackages()) {
        const link = path.join(dest, pkg);
        fs.mkdirSync(path.dirname(link), { recursive: true });
        fs.symlinkSync(path.join(REPO, 'node_modules', pkg), link);
      }
      continue;
    }
    for (const src of c.sources) {
      // From the build stage: its WORKDIR is the repository after `npm run build`.
      const rel = c.from === build.name ? path.posix.relative(build.workdir, src) : src;
      expect(c.from === undefined || c.from === build.name).toBe(true);
      const target = dest.endsWith('/') ? path.join(dest, path.basename(rel)) : dest;
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.cpSync(path.join(REPO, rel), target, { recursive: true });
    }
  }
}

async function get(url: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const r = await fetch(url);
    return { status: r.status, body: await r.text() };
  } catch {
    return undefined;
  }
}

test('the runtime stage files run idem: CLI, handlers, migrations, bundle, /live and /ready, SIGTERM exit 0', async () => {
  if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js')))
    throw new Error('build idem first: npm run build');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-runtime-'));
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-runtime-home-'));
  try {
    assembleRuntime(dir);
    expect(fs.existsSync(path.join(dir, 'dist', 'workflow-bundle.js'))).toBe(true);
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: home,
      IDEM_CACHE_DIR: path.join(home, 'cache'),
      NODE_ENV: 'production',
    };
    const node = (...args: string[]) =>
      spawnSync(process.execPath, args, { cwd: dir, env, encoding: 'utf8' });

    const help = node('bin/idem.js', '--help');
    expect(help.stderr).toBe('');
    expect(help.stdout).toMatch(/consume/);
    expect(help.stdout).toMatch(/prune/);
    const migrations = node(
      '-e',
      "const m = require('./dist/src/store/migrate.js'); console.log(m.listMigrations(m.CORE_MIGRATIONS.dir).length)",
    );
    expect(Number(migrations.stdout)).toBe(
      fs.readdirSync(path.join(REPO, 'src', 'store', 'migrations')).filter((f) => f.endsWith('.sql')).length,
    );

    // `idem consume` as the Deployment runs it, with Kafka out of reach: it waits, alive, not ready.
    const port = await freeLoopbackPort();
    const child = spawn(
      process.execPath,
      [...(runtime.entrypoint ?? []).slice(1), 'consume', '--handlers', 'examples/ledger'],
      {
        cwd: dir,
        env: {
          ...env,
          KAFKA_BROKERS: '127.0.0.1:1',
          IDEM_METRICS_PORT: String(port),
          IDEM_LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      let live: Awaited<ReturnType<typeof get>>;
      const deadline = Date.now() + 30_000;
      while (!(live = await get(`http://127.0.0.1:${port}/live`)) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      expect(live?.status).toBe(200);
      const ready = await get(`http://127.0.0.1:${port}/ready`);
      expect(ready?.status).toBe(503);
      expect(ready?.body).toMatch(/Kafka/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(output).not.toMatch(/Cannot find module/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(home, { recursive: true, force: true });
  }
});
