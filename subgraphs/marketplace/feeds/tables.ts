import { bigint, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * One row per product feed. The catalog event consumer increments
 * `generation` whenever products or stock change; every replica compares
 * it with the generation its cached document was built at, so a change
 * marks the feed stale on all of them.
 */
export const feedStates = pgTable('feed_states', {
  /** The feed, such as `google`. */
  name: text('name').primaryKey(),
  generation: bigint('generation', { mode: 'number' }).notNull().default(0),
  changedAt: timestamp('changed_at', { withTimezone: true, mode: 'date' })
    .notNull()
    .defaultNow(),
});
