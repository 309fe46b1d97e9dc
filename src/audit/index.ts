/** `idem audit` as a library: the fault scenarios end with it, and operators can call it too. */
export { auditTopics, type AuditOptions, type AuditProgress } from './audit';
export { formatReport } from './render';
export type {
  AuditReport,
  AuditViolation,
  ClassCounts,
  Coords,
  DuplicateCause,
  OffsetClass,
  PartitionReport,
  UnaccountedOffset,
} from './types';
