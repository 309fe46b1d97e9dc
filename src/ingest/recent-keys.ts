/**
 * Dedup keys this process has handed to Temporal (started, or confirmed a duplicate)
 * or found applied in the store, so a later copy of the same event needs no Temporal
 * call: Temporal would reject its start anyway while it keeps the workflow, which it
 * does for far longer than an entry stays here. Bounded: the oldest entries go first.
 */
export class RecentKeys {
  private readonly keys = new Set<string>();

  constructor(private readonly max: number) {}

  has(key: string): boolean {
    return this.keys.has(key);
  }

  add(key: string): void {
    if (this.keys.has(key)) return;
    this.keys.add(key);
    // A Set iterates in insertion order: its first key is the oldest.
    if (this.keys.size > this.max) this.keys.delete(this.keys.values().next().value as string);
  }

  get size(): number {
    return this.keys.size;
  }
}
