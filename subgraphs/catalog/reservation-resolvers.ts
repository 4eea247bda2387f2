import { GraphQLError } from 'graphql';
import { badUserInput, ErrorCode } from '../../platform/errors.js';
import { isUuid } from '../../platform/ids.js';
import type { SubgraphCaller } from '../../platform/identity.js';
import { toMoney } from '../../platform/money.js';
import type { PricedLineValue, StockReservationRow } from './db/tables.js';
import type {
  MutationResolvers,
  PricedLine,
  QueryResolvers,
  StockReservation,
} from './generated/resolvers.js';
import {
  priceCheckoutLines,
  type LineProblem,
} from './services/checkout-lines.js';
import {
  commitReservationLines,
  uncommitReservationLines,
  type CommitOutcome,
} from './services/reservation-commits.js';
import {
  commitReservation,
  confirmReservation,
  releaseReservation,
  reserveStock,
  type ReservationOutcome,
} from './services/reservations.js';

/**
 * Rejects every caller but a service with a signed service identity. The
 * fields are @inaccessible, so the gateway never plans them, but a request
 * sent to the subgraph directly with a customer's or staff member's
 * identity still reaches the resolver.
 */
export function requireServiceCaller(
  caller: SubgraphCaller,
  field: string,
): void {
  if (caller.kind === 'service') return;
  throw new GraphQLError(
    `${field} is for services only: sign the request with a service identity (signServiceIdentity in platform/identity.ts).`,
    { extensions: { code: ErrorCode.Forbidden } },
  );
}

function requireOrderId(orderId: string): void {
  if (!isUuid(orderId)) {
    throw badUserInput(
      `Invalid orderId "${orderId}": use the order's id, a lower-case UUID.`,
      'orderId',
    );
  }
}

function pricedLine(line: PricedLineValue): PricedLine {
  return {
    sku: line.sku,
    variantId: line.variantId,
    quantity: line.quantity,
    unitPrice: toMoney(line.unitPriceAmount, line.currencyCode),
    title: line.title,
    requiresShipping: line.requiresShipping,
    quantityAvailable: line.quantityAvailable,
    weight: line.weight ?? null,
  };
}

function reservation(row: StockReservationRow): StockReservation {
  return {
    orderId: row.orderId,
    status: row.status,
    expiresAt: row.expiresAt?.toISOString() ?? null,
    lines: row.pricedLines.map(pricedLine),
  };
}

function problem(line: LineProblem) {
  return { ...line };
}

function commitPayload(outcome: CommitOutcome) {
  if (!outcome.ok) return { commit: null, userErrors: outcome.errors };
  const { commit } = outcome;
  return {
    commit: {
      ...commit,
      committedAt: commit.committedAt.toISOString(),
      uncommittedAt: commit.uncommittedAt?.toISOString() ?? null,
    },
    userErrors: [],
  };
}

function reservationPayload(outcome: ReservationOutcome) {
  return {
    reservation: outcome.reservation ? reservation(outcome.reservation) : null,
    userErrors: outcome.error
      ? [
          {
            field: ['orderId'],
            message: outcome.error.message,
            code: outcome.error.code,
          },
        ]
      : [],
  };
}

export const reservationQueryResolvers: Pick<QueryResolvers, 'checkoutLines'> =
  {
    checkoutLines: async (_parent, { lines }, { db, config, caller }) => {
      requireServiceCaller(caller, 'checkoutLines');
      const result = await priceCheckoutLines(db, config, lines);
      return result.ok
        ? { lines: result.lines.map(pricedLine), problems: [] }
        : { lines: [], problems: result.problems.map(problem) };
    },
  };

export const reservationMutationResolvers: Pick<
  MutationResolvers,
  | 'stockReserve'
  | 'stockReservationConfirm'
  | 'stockReservationCommit'
  | 'stockReservationRelease'
  | 'stockReservationCommitLines'
  | 'stockReservationUncommitLines'
> = {
  stockReserve: async (_parent, args, { db, config, caller }) => {
    requireServiceCaller(caller, 'stockReserve');
    requireOrderId(args.orderId);
    const result = await reserveStock(db, config, {
      orderId: args.orderId,
      lines: args.lines,
      ttlSeconds: args.ttlSeconds,
    });
    return result.ok
      ? { reservation: reservation(result.reservation), problems: [] }
      : { reservation: null, problems: result.problems.map(problem) };
  },
  stockReservationConfirm: async (_parent, { orderId }, { db, caller }) => {
    requireServiceCaller(caller, 'stockReservationConfirm');
    requireOrderId(orderId);
    return reservationPayload(await confirmReservation(db, orderId));
  },
  stockReservationCommit: async (_parent, { orderId }, { db, caller }) => {
    requireServiceCaller(caller, 'stockReservationCommit');
    requireOrderId(orderId);
    return reservationPayload(await commitReservation(db, orderId));
  },
  stockReservationRelease: async (
    _parent,
    { orderId, force },
    { db, caller },
  ) => {
    requireServiceCaller(caller, 'stockReservationRelease');
    requireOrderId(orderId);
    return reservationPayload(
      await releaseReservation(db, orderId, { force: force ?? false }),
    );
  },
  stockReservationCommitLines: async (_parent, args, { db, caller }) => {
    requireServiceCaller(caller, 'stockReservationCommitLines');
    requireOrderId(args.orderId);
    return commitPayload(
      await commitReservationLines(db, {
        orderId: args.orderId,
        commitKey: args.commitKey,
        lines: args.lines,
      }),
    );
  },
  stockReservationUncommitLines: async (_parent, args, { db, caller }) => {
    requireServiceCaller(caller, 'stockReservationUncommitLines');
    requireOrderId(args.orderId);
    return commitPayload(
      await uncommitReservationLines(db, {
        orderId: args.orderId,
        commitKey: args.commitKey,
      }),
    );
  },
};
