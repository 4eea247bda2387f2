import { Writable } from 'node:stream';
import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { createErrorFormatter } from '../platform/errors.js';
import { createLogger } from '../platform/logger.js';

function capturingLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger('test', 'info', destination), lines };
}

describe('createErrorFormatter', () => {
  it('masks a database error and logs it without parameters', () => {
    const { logger, lines } = capturingLogger();
    const format = createErrorFormatter(logger);
    const driverError = Object.assign(
      new Error('value "3000000004" is out of range for type integer'),
      { code: '22003' },
    );
    const queryError = new Error(
      'Failed query: update "stock_levels" set "on_hand" = $1\nparams: 3000000004,alice@example.com',
      { cause: driverError },
    );
    const error = new GraphQLError(queryError.message, {
      originalError: queryError,
      path: ['stockAdjust'],
    });

    const formatted = format(error.toJSON(), error);

    expect(formatted).toEqual({
      message: 'Internal server error',
      path: ['stockAdjust'],
      locations: undefined,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0]!);
    expect(record.error.message).toBe(
      'Failed query: update "stock_levels" set "on_hand" = $1\nparams: [omitted]',
    );
    expect(record.error.cause).toEqual({
      message: 'value "3000000004" is out of range for type integer',
      code: '22003',
    });
    expect(lines[0]).not.toContain('alice@example.com');
  });

  it('passes an error with a known code', () => {
    const { logger, lines } = capturingLogger();
    const format = createErrorFormatter(logger);
    const error = new GraphQLError('Invalid first: 1000.', {
      extensions: { code: 'BAD_USER_INPUT', argumentName: 'first' },
    });

    expect(format(error.toJSON(), error)).toEqual({
      message: 'Invalid first: 1000.',
      extensions: { code: 'BAD_USER_INPUT', argumentName: 'first' },
    });
    expect(lines).toEqual([]);
  });
});
