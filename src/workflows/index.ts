// The workflows the idem worker registers (bundled by the Temporal SDK).
export { processEvent } from './process-event';
export { pruneDedupStore } from './prune';
export { idemWarmUp } from './warm-up';
