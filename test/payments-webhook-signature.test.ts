import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WebhookVerificationError } from '../subgraphs/orders/payments/provider.js';
import {
  computeSignature,
  sign,
  verify,
} from '../subgraphs/orders/payments/stripe-signature.js';

const secret = 'whsec_test_signature_secret';
const body = Buffer.from('{"id":"evt_1","type":"payment_intent.succeeded"}');
const now = 1_750_000_000;

function verifyError(run: () => unknown): WebhookVerificationError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookVerificationError);
    return error as WebhookVerificationError;
  }
  throw new Error('verification passed');
}

describe('webhook signature', () => {
  it('accepts a valid signature', () => {
    const header = sign(body, secret, now);

    expect(header).toMatch(/^t=1750000000,v1=[0-9a-f]{64}$/);
    expect(verify(body, header, secret, { now })).toBe(now);
  });

  it('signs "<t>.<body>" with HMAC-SHA256', () => {
    const header = sign(body, secret, now);
    const expected = createHmac('sha256', secret)
      .update(`${now}.${body.toString()}`)
      .digest('hex');

    expect(header).toBe(`t=${now},v1=${expected}`);
    expect(computeSignature(body, secret, now)).toBe(expected);
  });

  it('rejects a tampered body', () => {
    const header = sign(body, secret, now);
    const tampered = Buffer.from(body.toString().replace('evt_1', 'evt_2'));

    const error = verifyError(() => verify(tampered, header, secret, { now }));
    expect(error.message).toMatch(/signature mismatch/);
  });

  it('rejects a signature made with another secret', () => {
    const header = sign(body, 'whsec_other', now);

    const error = verifyError(() => verify(body, header, secret, { now }));
    expect(error.message).toMatch(/signature mismatch/);
    expect(error.message).not.toContain(secret);
    expect(error.message).not.toContain(computeSignature(body, secret, now));
  });

  it('rejects a timestamp older than 300 s', () => {
    const header = sign(body, secret, now - 301);

    const error = verifyError(() => verify(body, header, secret, { now }));
    expect(error.message).toMatch(/outside the tolerance of 300 s/);
  });

  it('accepts a timestamp exactly 300 s old', () => {
    const header = sign(body, secret, now - 300);

    expect(verify(body, header, secret, { now })).toBe(now - 300);
  });

  it('rejects a timestamp more than 300 s ahead', () => {
    const header = sign(body, secret, now + 301);

    const error = verifyError(() => verify(body, header, secret, { now }));
    expect(error.message).toMatch(/outside the tolerance/);
  });

  it('honours a configured tolerance', () => {
    const header = sign(body, secret, now - 30);

    expect(() =>
      verify(body, header, secret, { now, toleranceSeconds: 10 }),
    ).toThrow(WebhookVerificationError);
  });

  it('accepts either of two v1 entries during rotation', () => {
    const header = sign(body, ['whsec_old', secret], now);

    expect(header.match(/v1=/g)).toHaveLength(2);
    expect(verify(body, header, secret, { now })).toBe(now);
    expect(verify(body, header, 'whsec_old', { now })).toBe(now);
    expect(() => verify(body, header, 'whsec_third', { now })).toThrow(
      /signature mismatch/,
    );
  });

  it('accepts any of several configured secrets', () => {
    const header = sign(body, 'whsec_new', now);

    expect(verify(body, header, [secret, 'whsec_new'], { now })).toBe(now);
  });

  it('ignores v0 entries', () => {
    const v0 = computeSignature(body, secret, now);
    const header = `t=${now},v0=${v0}`;

    const error = verifyError(() => verify(body, header, secret, { now }));
    expect(error.message).toMatch(/no v1 signature/);
  });

  it('rejects a missing header', () => {
    expect(verifyError(() => verify(body, undefined, secret)).message).toMatch(
      /Missing webhook signature header/,
    );
    expect(verifyError(() => verify(body, '', secret)).message).toMatch(
      /Missing/,
    );
  });

  it('rejects a header without a timestamp', () => {
    const header = `v1=${computeSignature(body, secret, now)}`;

    expect(
      verifyError(() => verify(body, header, secret, { now })).message,
    ).toMatch(/no valid t= timestamp/);
  });

  it('accepts a string body', () => {
    const header = sign(body.toString(), secret, now);

    expect(verify(body.toString(), header, secret, { now })).toBe(now);
  });
});
