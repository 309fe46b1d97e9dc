/** idem's public API, for services that run idem's worker with their own handlers. */
export { startIdem, type IdemProcess, type Role, type StartOptions } from './app';
export { loadConfig, parseConfig, type Config } from './config';
export { ConfigError } from './errors';
export {
  HandlerRegistry,
  defineHandler,
  type Handler,
  type HandlerContext,
  type OutgoingEvent,
} from './activities/handlers/registry';
export {
  loadHandlerModule,
  handlersFromModule,
  type HandlerModule,
  type LoadedHandlers,
} from './activities/handlers/load';
export type { HandlerAudit, AuditedEvent, EffectViolation } from './activities/handlers/audit';
export { auditTopics, formatReport, type AuditOptions, type AuditReport } from './audit';
export { migrate, type MigrationSet } from './store/migrate';
export { createActivities, type Activities } from './activities';
export {
  IdemError,
  NonRetriableError,
  EventRejectedError,
  UserError,
  HandlersModuleError,
  InvalidEnvelopeError,
  UnknownEventTypeError,
  InvalidPayloadError,
  PermanentHandlerError,
} from './errors';
export { workflowIdFor } from './events/identity';
export type { IdemEvent, RawMessage, DlqReason } from './events/types';
export { createLogger, type Logger } from './observability/logger';
export { createMetrics, type Metrics } from './observability/metrics';
