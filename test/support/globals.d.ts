// Shared between Jest's global setup and teardown, which run in the same process.
declare global {
  var __IDEM_STACK_STARTED__: boolean | undefined;
}
export {};
