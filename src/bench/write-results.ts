/** Writes a bench run to a results directory: JSON, a markdown report and its SVG charts. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { formatNumber, renderMarkdown, scenarioLabel } from './report-markdown';
import { latencyOverTimeSvg, latencyVsRateSvg, throughputSvg } from './report-svg';
import type { BenchResult } from './types';

/** Results get shared (docs/performance.md quotes them): a password in a configured address stays out. */
export function withoutPassword(address: string): string {
  return address
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@')
    .replace(/([?&]password=)[^&]*/i, '$1***');
}

export async function writeResults(
  dir: string,
  result: BenchResult,
): Promise<{ json: string; markdown: string; charts: string[] }> {
  const s = result.servers;
  const shared: BenchResult = {
    ...result,
    servers: {
      kafka: withoutPassword(s.kafka),
      temporal: withoutPassword(s.temporal),
      postgres: withoutPassword(s.postgres),
    },
  };
  await fs.mkdir(dir, { recursive: true });
  const charts: { file: string; alt: string; svg: string }[] = [];
  if (shared.sweep && shared.sweep.points.length > 0) {
    charts.push({
      file: 'latency-vs-rate.svg',
      alt: 'Latency against offered rate',
      svg: latencyVsRateSvg(shared.sweep),
    });
  }
  charts.push({ file: 'throughput.svg', alt: 'Throughput over time', svg: throughputSvg(shared.scenarios) });
  const paced = [
    ...shared.scenarios.flatMap((s) =>
      s.latencyOverTime ? [{ name: scenarioLabel(s), points: s.latencyOverTime, warmup: s.warmup }] : [],
    ),
    ...(shared.sweep?.points ?? []).flatMap((p) =>
      p.latencyOverTime
        ? [
            {
              name: `sweep, ${formatNumber(p.offeredRate, 1)}/s`,
              points: p.latencyOverTime,
              warmup: p.warmup,
            },
          ]
        : [],
    ),
  ];
  if (paced.length > 0) {
    const warmupSeconds = paced.find((r) => r.warmup)?.warmup?.seconds;
    charts.push({
      file: 'latency-over-time.svg',
      alt: 'Latency over time, paced runs',
      svg: latencyOverTimeSvg(paced, {
        ...(shared.sweep ? { p99TargetMs: shared.sweep.p99TargetMs } : {}),
        ...(warmupSeconds ? { warmupSeconds } : {}),
      }),
    });
  }

  const links = charts.map((c) => `![${c.alt}](${c.file})`).join('\n\n');
  const json = path.join(dir, 'results.json');
  const markdown = path.join(dir, 'results.md');
  await fs.writeFile(json, `${JSON.stringify(shared, null, 2)}\n`);
  await fs.writeFile(markdown, `${renderMarkdown(shared)}\n## Charts\n\n${links}\n`);
  for (const c of charts) await fs.writeFile(path.join(dir, c.file), c.svg);
  return { json, markdown, charts: charts.map((c) => path.join(dir, c.file)) };
}
