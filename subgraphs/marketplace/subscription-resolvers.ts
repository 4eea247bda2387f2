import { isUuid } from '../../platform/ids.js';
import { requirePermission } from '../../platform/permissions.js';
import {
  loadSubscriptionEvent,
  payloadEnum,
  payloadString,
  rejectSubgraphSubscription,
  requiredPayloadString,
} from '../../platform/subscription-event.js';
import type { Context } from './context.js';
import { listingStatus } from './db/tables.js';
import type {
  ResolversTypes,
  SubscriptionResolveFn,
  SubscriptionResolvers,
} from './generated/resolvers.js';

const LISTING_STATUSES = listingStatus.enumValues;

/**
 * Resolves `listingSyncChanged` for the one listing event that the
 * gateway names in the `x-commerce-event-position` header.
 */
const resolveListingSyncChanged: SubscriptionResolveFn<
  ResolversTypes['ListingSyncChange'],
  unknown,
  Context,
  unknown
> = async (_root, _args, { db, loaders, caller, eventPosition }) => {
  // A request sent to the subgraph directly has passed no gateway check,
  // so the field's scope is checked here too.
  requirePermission(caller, 'read_listings');
  const event = await loadSubscriptionEvent(
    db,
    eventPosition,
    'listingSyncChanged',
  );
  const listingId = requiredPayloadString(event, 'listingId');
  return {
    position: event.position,
    eventId: event.id,
    occurredAt: event.occurredAt,
    type: event.type,
    listingId,
    listing: isUuid(listingId)
      ? await loaders.listingById.load(listingId)
      : null,
    // Only `listing.synced` names a status; `listing.sync_failed` carries
    // the `error` instead.
    status: payloadEnum(event, 'status', LISTING_STATUSES),
    error: payloadString(event, 'error'),
  };
};

export const subscriptionResolvers: SubscriptionResolvers = {
  listingSyncChanged: {
    subscribe: rejectSubgraphSubscription('listingSyncChanged'),
    resolve: resolveListingSyncChanged,
  },
};
