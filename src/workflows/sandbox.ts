/**
 * The first module of every bundle of idem's workflows (src/temporal/workflow-bundle.ts puts it
 * ahead of the SDK's entry point): it runs once, when a worker loads the bundle into its workflow
 * context, before the SDK freezes that context's globals.
 *
 * The context's errors record no stack frames. The Temporal SDK's promise hook builds a stack
 * trace, mapped through the bundle's source map, for every promise a workflow creates (for the
 * `__stack_trace` query); that was a fifth of the workflow thread's CPU per event
 * (docs/performance.md). Workflow logic never reads a stack, so replay is unaffected; what goes is
 * Temporal Web's "Stack Trace" tab for idem's workflows (the IdemStage and IdemOutcome search
 * attributes and the memo say where an event is) and the frames of an error thrown by workflow
 * code (activities' errors keep theirs: they run outside the context).
 */
Error.stackTraceLimit = 0;

export {};
