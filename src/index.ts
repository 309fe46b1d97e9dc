/** idem's public API, for services that run idem's worker with their own handlers. */
export { startIdem, defaultRegistry, type IdemProcess, type Role, type StartOptions } from './app';
export { loadConfig, parseConfig, ConfigError, type Config } from './config';
export {
  HandlerRegistry,
  defineHandler,
  type Handler,
  type HandlerContext,
  type OutgoingEvent,
} from './activities/handlers/registry';
export { registerLedgerHandlers } from './activities/handlers/ledger';
export { createActivities, type Activities } from './activities';
export {
  IdemError,
  NonRetriableError,
  InvalidEnvelopeError,
  UnknownEventTypeError,
  InvalidPayloadError,
  PermanentHandlerError,
} from './errors';
export { workflowIdFor } from './events/identity';
export type { IdemEvent, RawMessage, DlqReason } from './events/types';
export { createLogger, type Logger } from './observability/logger';
export { createMetrics, type Metrics } from './observability/metrics';
