/** The one activity of the Temporal baselines: it does nothing, so a run measures Temporal alone. */
export async function noop(): Promise<void> {
  // Intentionally empty.
}

export const benchActivities = { noop };
export type BenchActivities = typeof benchActivities;
