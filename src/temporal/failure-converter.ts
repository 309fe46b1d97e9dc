/**
 * With payload encryption on, failure messages and stack traces are encoded as a payload too
 * (Temporal's `encodeCommonAttributes`), so the codec encrypts them: a handler's error message
 * may quote event data. Loaded by path (`failureConverterPath`): the worker's workflow bundle
 * needs it as a module of its own (scripts/bundle-workflows.js builds a bundle with it).
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
