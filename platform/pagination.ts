import { badUserInput } from './errors.js';

export const MAX_PAGE_SIZE = 250;

/** Checks `first` and decodes `after` of a Relay connection argument set. */
export function parsePageArguments(args: {
  first?: number | null;
  after?: string | null;
}): { first: number; after: string | null } {
  const first = args.first ?? 20;
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) {
    throw badUserInput(
      `Invalid first: ${first}. Use a whole number from 0 to ${MAX_PAGE_SIZE}.`,
      'first',
    );
  }
  return { first, after: args.after ? decodeCursor(args.after) : null };
}

export function encodeCursor(key: string): string {
  return Buffer.from(`k:${key}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!text.startsWith('k:') || text.length < 3) {
    throw badUserInput(
      `Invalid after cursor "${cursor}". Pass an endCursor or edge cursor returned by this connection.`,
      'after',
    );
  }
  return text.slice(2);
}

/**
 * Builds a connection from up to `first + 1` rows fetched after the cursor;
 * the extra row only shows whether a next page exists.
 */
export function toConnection<TRow>(
  rows: TRow[],
  first: number,
  hasPrevious: boolean,
  keyOf: (row: TRow) => string,
) {
  const page = rows.slice(0, first);
  const edges = page.map((node) => ({
    cursor: encodeCursor(keyOf(node)),
    node,
  }));
  return {
    edges,
    nodes: page,
    pageInfo: {
      hasNextPage: rows.length > first,
      hasPreviousPage: hasPrevious,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}
