import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { ErrorCode } from '../../platform/errors.js';
import type { CallerIdentity } from '../caller.js';
import { callerKeyOf } from './engine.js';

/**
 * Authenticates a connection's request again every `intervalMs`, so that a
 * revoked partner key or an expired token ends a long-lived subscription.
 * Calls `onRejected` once, with the error to report, when authentication
 * fails or identifies another caller. Returns the function that stops the
 * checks.
 */
export function watchCredentials(options: {
  caller: CallerIdentity;
  authenticate(): Promise<CallerIdentity>;
  intervalMs: number;
  onRejected(error: GraphQLFormattedError): void;
}): () => void {
  const callerKey = callerKeyOf(options.caller);
  let rejected = false;
  const reject = (error: GraphQLFormattedError) => {
    if (rejected) return;
    rejected = true;
    clearInterval(timer);
    options.onRejected(error);
  };
  const timer = setInterval(() => {
    options.authenticate().then(
      (current) => {
        if (callerKeyOf(current) === callerKey) return;
        reject({
          message:
            'The credentials now identify another caller; subscribe again.',
          extensions: { code: ErrorCode.Unauthenticated },
        });
      },
      (error: unknown) =>
        reject(
          error instanceof GraphQLError
            ? error.toJSON()
            : {
                message: 'The credentials are no longer valid.',
                extensions: { code: ErrorCode.Unauthenticated },
              },
        ),
    );
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
