/** The bench's defaults that its command line shows; no imports, so the CLI can load it at start-up. */

/**
 * Workflows in flight in the Temporal baselines. On the reference machine the eager + local
 * baseline completed the most workflows/s at 4–6 in flight (51–64/s at 2 to 100; at 100, 17 %
 * of its starts fell back from eager to matching): the baseline at its best, so idem's ratio to
 * it is not flattered.
 */
export const DEFAULT_BASELINE_CONCURRENCY = 4;

/**
 * NODE_OPTIONS of idem's processes unless `--idem-node-options` says otherwise: the heap limits
 * docs/configuration.md recommends for a small machine. Node sizes its default heap from the
 * machine's memory (4 GiB here) and lets garbage pile up to it; capped, peak RSS fell by 50–80 MiB
 * with no loss of throughput. V8's young generation at 8 MiB per semi-space instead of 16, in the
 * main and the workflow thread: draining 10,000 records, peak RSS 299–306 → 254–277 MiB for about
 * 4 % more of idem's CPU per event.
 */
export const RECOMMENDED_NODE_OPTIONS = '--max-old-space-size=192 --max-semi-space-size=8';

/**
 * Environment of idem's processes unless `--idem-env` sets the same name: glibc's malloc limited
 * to 2 arenas, as docs/configuration.md recommends for deployments. glibc gives each thread that
 * allocates its own arena, up to 8 per core, and the Temporal SDK's Rust threads each kept one:
 * limited, peak RSS fell by 20–35 MiB (252–271 against 279–310 MiB at 2,000 events) for about
 * 1 ms more of idem's CPU per event when paced. `--idem-env MALLOC_ARENA_MAX=` (empty: glibc's own
 * limit) undoes it. And malloc's mmap threshold fixed at 128 KiB: glibc raises it to the size of
 * every large block freed (up to 32 MiB), so after the first fetch response kafkajs' megabyte
 * buffers came from the arenas, whose freed space stayed resident; fixed, they are mapped and
 * unmapped. Draining 30,000 records with 90 % duplicates, 3 pairs: peak RSS 257.2, 256.3, 248.3 →
 * 236.6, 239.8, 232.7 MiB; 4,000 unique: 256.9 → 230.5 MiB; idem's CPU the same within the noise.
 */
export const RECOMMENDED_IDEM_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
};
