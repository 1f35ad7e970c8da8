// What the user is shown when a call fails: the service's message and, for invalid input, one
// message per field (from the `google.rpc.BadRequest` detail of the `google.rpc.Status`).
import { Code, ConnectError } from '@connectrpc/connect';
import { BadRequestSchema } from '../gen/google/rpc/error_details_pb';

export interface ShownError {
  code: Code;
  message: string;
  /** Field path (as the contract names it, e.g. `passengers[1].birth_date`) → message. */
  fields: Record<string, string>;
}

const FALLBACK: Partial<Record<Code, string>> = {
  [Code.Unavailable]: 'The service is not reachable right now. Try again in a moment.',
  [Code.DeadlineExceeded]: 'The service took too long to answer. Try again in a moment.',
  [Code.PermissionDenied]: 'You are not allowed to do this.',
  [Code.Unauthenticated]: 'Please sign in again.',
  [Code.ResourceExhausted]: 'Too many attempts. Wait a little and try again.',
  [Code.Internal]: 'Something went wrong on our side. Try again later.',
  [Code.Unknown]: 'Something went wrong. Try again later.',
};

export function describeError(error: unknown): ShownError {
  const failure = ConnectError.from(error);
  const fields: Record<string, string> = {};
  for (const badRequest of failure.findDetails(BadRequestSchema)) {
    for (const violation of badRequest.fieldViolations) {
      fields[violation.field] = violation.description;
    }
  }
  const message = failure.rawMessage || FALLBACK[failure.code] || 'Something went wrong.';
  return { code: failure.code, message, fields };
}
