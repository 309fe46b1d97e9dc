/**
 * The error envelope parsing throws internally. The parse entry points catch it
 * and turn it into a failed parse result with its {@link EnvelopeErrorReason}:
 * parsing itself never throws.
 */
import { InvalidEnvelopeError } from '../errors';
import type { DlqReason } from './types';

/** What an envelope check can find wrong: the envelope itself, or a header that is not UTF-8. */
export type EnvelopeErrorReason = Extract<DlqReason, 'invalid_envelope' | 'invalid_utf8'>;

/** An envelope that cannot be accepted, with the dead-letter reason it is rejected for. */
export class EnvelopeError extends InvalidEnvelopeError {
  constructor(
    readonly reason: EnvelopeErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/** An `invalid_envelope` error. */
export function invalid(message: string): EnvelopeError {
  return new EnvelopeError('invalid_envelope', message);
}
