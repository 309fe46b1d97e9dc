/** The bench's results as markdown: what ran where, one table of scenarios, the ratios and the sweep. */
import type { BenchResult, LatencySummary, ScenarioResult } from './types';

const MISSING = '—';

/** A number for reading (thousands separated, fixed decimals), or "—" when there is none. */
export function formatNumber(value: number | undefined, decimals: number): string {
  if (value === undefined || !Number.isFinite(value)) return MISSING;
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** A table cell: a pipe or a line break in a name would break the table. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function table(header: string[], align: ('l' | 'r')[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.map(cell).join(' | ')} |`;
  return [
    line(header),
    `| ${align.map((a) => (a === 'r' ? '---:' : '---')).join(' | ')} |`,
    ...rows.map(line),
  ]
    .join('\n')
    .concat('\n');
}

/** p50, p95, p99, max in ms; an empty histogram has no percentiles. */
function percentiles(latency: LatencySummary | undefined): string[] {
  const has = latency !== undefined && latency.count > 0;
  return [latency?.p50, latency?.p95, latency?.p99, latency?.max].map((v) =>
    formatNumber(has ? v : undefined, 1),
  );
}

/** A scenario's name, with its round when the run had more than one. */
export function scenarioLabel(s: ScenarioResult): string {
  return s.round === undefined ? s.name : `${s.name} (round ${s.round})`;
}

function scenarioRow(s: ScenarioResult): string[] {
  return [
    scenarioLabel(s),
    formatNumber(s.events, 0),
    formatNumber(s.seconds, 1),
    formatNumber(s.eventsPerSecond, 1),
    formatNumber(s.steadyEventsPerSecond, 1),
    ...percentiles(s.latency),
    formatNumber(s.usage?.cpuSeconds, 1),
    formatNumber(s.usage?.peakRssMiB, 0),
    formatNumber(s.historyEventsPerWorkflow, 1),
  ];
}

function header(result: BenchResult): string {
  const { machine: m, servers: s } = result;
  return [
    `# idem bench, ${result.startedAt}`,
    '',
    `- Machine: ${m.cpus} CPUs, ${formatNumber(m.memoryGiB, 1)} GiB, Node ${m.node}, ${m.platform}`,
    `- Servers: Kafka \`${s.kafka}\`, Temporal \`${s.temporal}\`, PostgreSQL \`${s.postgres}\``,
    '',
  ].join('\n');
}

function scenariosTable(result: BenchResult): string {
  const rows = result.scenarios.map(scenarioRow);
  const head = [
    'scenario',
    'events',
    's',
    'events/s',
    '10-90 % events/s',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'max ms',
  ];
  const usage = ['CPU s', 'peak RSS MiB', 'history events/workflow'];
  return table([...head, ...usage], ['l', ...Array<'r'>(head.length + usage.length - 1).fill('r')], rows);
}

function scenarios(result: BenchResult): string {
  const parameters = result.scenarios.map(
    (s) =>
      `- ${scenarioLabel(s)}: ${
        Object.entries(s.params)
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(', ') || MISSING
      }`,
  );
  // Per-event costs and counters (server CPU per event, duplicates by layer, ...), where measured.
  const extras = result.scenarios
    .filter((s) => s.extra && Object.keys(s.extra).length > 0)
    .map(
      (s) =>
        `- ${scenarioLabel(s)}: ${Object.entries(s.extra ?? {})
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(', ')}`,
    );
  return [
    '## Scenarios',
    '',
    'Latency from the event’s emission to its committed effect (to workflow completion for the Temporal baselines).',
    '',
    scenariosTable(result),
    'Parameters:',
    '',
    ...parameters,
    '',
    ...(extras.length ? ['Measured besides:', '', ...extras, ''] : []),
  ].join('\n');
}

function stages(result: BenchResult): string {
  const rows = result.scenarios.flatMap((s) =>
    Object.entries(s.stages ?? {}).map(([stage, latency]) => [
      scenarioLabel(s),
      stage,
      ...percentiles(latency),
    ]),
  );
  if (rows.length === 0) return '';
  const head = ['scenario', 'stage', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'];
  return ['## Stages', '', table(head, ['l', 'l', 'r', 'r', 'r', 'r'], rows)].join('\n');
}

function ratios(result: BenchResult): string {
  const rounds = result.ratioRounds;
  const rows = Object.entries(result.ratios).map(([name, value]) => [
    name,
    formatNumber(value, 2),
    ...(rounds ? [(rounds[name] ?? []).map((v) => formatNumber(v, 2)).join(', ')] : []),
  ]);
  if (rows.length === 0) return '';
  return rounds
    ? [
        '## Ratios',
        '',
        'Each ratio compares scenarios of the same round; the value is the median over the rounds.',
        '',
        table(['ratio', 'median', 'each round'], ['l', 'r', 'l'], rows),
      ].join('\n')
    : ['## Ratios', '', table(['ratio', 'value'], ['l', 'r'], rows)].join('\n');
}

function sweep(result: BenchResult): string {
  const sw = result.sweep;
  if (!sw) return '';
  const target = formatNumber(sw.p99TargetMs, 0);
  const rate = (r: number | undefined) => (r === undefined ? MISSING : `${formatNumber(r, 1)} events/s`);
  const warmup = sw.points.find((p) => p.warmup)?.warmup?.seconds;
  const rows = [...sw.points]
    .sort((a, b) => a.offeredRate - b.offeredRate)
    .map((p) => {
      const judged = p.warmup?.after ?? p.latency;
      return [
        formatNumber(p.offeredRate, 1),
        formatNumber(p.achievedRate, 1),
        ...percentiles(judged),
        ...(warmup === undefined
          ? []
          : [
              formatNumber(p.latency.count > 0 ? p.latency.p99 : undefined, 1),
              formatNumber(p.warmup && p.warmup.first.count > 0 ? p.warmup.first.max : undefined, 1),
            ]),
        judged.count > 0 ? (judged.p99 <= sw.p99TargetMs ? 'yes' : 'no') : MISSING,
      ];
    });
  const head = ['offered events/s', 'achieved events/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'];
  const split =
    warmup === undefined ? [] : ['p99 ms, every event', `max ms, first ${formatNumber(warmup, 0)} s`];
  return [
    `## Sweep: ${sw.scenario}`,
    '',
    `Highest offered rate with p99 under ${target} ms: **${rate(sw.maxRateUnderP99Ms)}**`,
    ...(warmup === undefined
      ? []
      : [
          '',
          `Each paced run starts a new idem process. Its percentiles leave out the events emitted in ` +
            `its first ${formatNumber(warmup, 0)} s (\`--warmup-seconds\`), which meet a process that has ` +
            `just started; the last columns count them. Counting every event, the highest rate is ` +
            `${rate(sw.maxRateUnderP99MsAllEvents)}.`,
        ]),
    '',
    table(
      [...head, ...split, `p99 ≤ ${target} ms`],
      ['r', 'r', 'r', 'r', 'r', 'r', ...split.map((): 'r' => 'r'), 'l'],
      rows,
    ),
  ].join('\n');
}

export function renderMarkdown(result: BenchResult): string {
  return [header(result), scenarios(result), stages(result), ratios(result), sweep(result)]
    .filter((section) => section !== '')
    .join('\n');
}

/** What `idem bench` prints when it ends: the scenarios' table, the ratios and the sweep (the
 * parameters, per-event costs and stages are in results.md). */
export function renderSummary(result: BenchResult): string {
  return [`## Scenarios\n\n${scenariosTable(result)}`, ratios(result), sweep(result)]
    .filter((section) => section !== '')
    .join('\n');
}
