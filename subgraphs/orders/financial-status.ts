import type { OrderRow } from './db/tables.js';

export type FinancialStatus = OrderRow['financialStatus'];

/**
 * Every change of an order's financial status the orders service makes.
 * Anything not listed is refused, so no code path can, for example,
 * mark a refunded order paid again.
 *
 * PENDING covers orders whose money has not arrived: a card payment
 * awaiting the customer's confirmation, a bank transfer on its way, cash
 * to collect on delivery.
 */
const TRANSITIONS: Record<FinancialStatus, readonly FinancialStatus[]> = {
  PENDING: ['AUTHORIZED', 'PAID', 'CANCELLED'],
  AUTHORIZED: ['PAID', 'CANCELLED'],
  PAID: ['PARTIALLY_REFUNDED', 'REFUNDED'],
  PARTIALLY_REFUNDED: ['PARTIALLY_REFUNDED', 'REFUNDED'],
  REFUNDED: [],
  CANCELLED: [],
};

export function canTransition(
  from: FinancialStatus,
  to: FinancialStatus,
): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Raised for a financial status change the state machine does not allow. */
export class InvalidTransitionError extends Error {
  readonly code = 'INVALID_TRANSITION';
  constructor(
    readonly from: FinancialStatus,
    readonly to: FinancialStatus,
  ) {
    super(
      `An order that is ${from} cannot become ${to}; from ${from} it can become ${
        TRANSITIONS[from].length > 0
          ? TRANSITIONS[from].join(' or ')
          : 'nothing else'
      }.`,
    );
  }
}

/** Returns `to`, or throws InvalidTransitionError naming both states. */
export function transition(
  from: FinancialStatus,
  to: FinancialStatus,
): FinancialStatus {
  if (!canTransition(from, to)) throw new InvalidTransitionError(from, to);
  return to;
}
