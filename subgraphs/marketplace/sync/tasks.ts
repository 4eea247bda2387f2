import { sql, type SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';

type Executor = Pick<
  PgDatabase<PgQueryResultHKT, Record<string, unknown>>,
  'execute'
>;

/** Kinds of change a sync task records. */
export type ListingChange =
  'stock' | 'content' | 'price' | 'connection' | 'publish' | 'end';

export interface RecordChangesOptions {
  /** A condition on `listings l` selecting the affected listings. */
  where: SQL;
  change: ListingChange;
  /** True when the change needs a full publish (content or price), not only a quantity. */
  publish: boolean;
  /**
   * Scope of listings that get a task. `synced` (the default) skips ENDED listings
   * and DRAFT listings that have no task, because neither is on the
   * marketplace nor waiting to be. `all` records the change for every
   * listing selected, for publishing and ending.
   */
  scope?: 'synced' | 'all';
}

/**
 * Upserts one sync task per affected listing and returns how many were
 * upserted. A listing with a task already keeps that one row: its
 * `version` goes up, so a worker pushing it meanwhile pushes again, and a
 * full publish, once requested, stays requested until a publish succeeds.
 * A new task is due at once. An existing task in backoff after failures
 * keeps its due time, so a flood of changes does not defeat the backoff.
 */
export async function recordListingChanges(
  db: Executor,
  options: RecordChangesOptions,
): Promise<number> {
  const scope =
    options.scope === 'all'
      ? sql``
      : sql`and l.status <> 'ENDED'
            and (l.status <> 'DRAFT'
                 or exists (select 1 from listing_sync_tasks e
                             where e.listing_id = l.id))`;
  const rows = await db.execute(sql`
    insert into listing_sync_tasks as t
      (listing_id, version, publish_version, changes, due_at)
    select l.id, 1, ${options.publish ? sql`1` : sql`null::integer`},
           array[${options.change}]::text[], now()
      from listings l
     where l.variant_id is not null
       and (${options.where})
       ${scope}
     order by l.id
    on conflict (listing_id) do update set
      version = t.version + 1,
      publish_version = case when excluded.publish_version is null
                             then t.publish_version
                             else t.version + 1 end,
      changes = array(select distinct unnest(t.changes || excluded.changes)
                       order by 1),
      due_at = case when t.attempts > 0 then t.due_at
                    else least(t.due_at, excluded.due_at) end,
      updated_at = now()
    returning t.listing_id`);
  const count = (rows as unknown as unknown[]).length;
  if (count > 0) await notifySyncWorkers(db);
  return count;
}

/** Channel that wakes sync workers; PostgreSQL delivers it on commit. */
export const SYNC_TASKS_CHANNEL = 'listing_sync_tasks';

/** Wakes the sync workers once the caller's transaction commits. */
export async function notifySyncWorkers(db: Executor): Promise<void> {
  await db.execute(sql`select pg_notify(${SYNC_TASKS_CHANNEL}, '')`);
}
