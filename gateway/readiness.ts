import { fetch, type Dispatcher } from 'undici';
import type { SubgraphEndpoint } from './supergraph-file.js';
import { describeUnreachable } from './subgraph-failure.js';

export interface SubgraphReadiness {
  name: string;
  ready: boolean;
  /** Reason the subgraph is not ready, e.g. `connection refused` or `HTTP 503`. */
  reason?: string;
}

/**
 * Returns the readiness URL of a subgraph: `/ready` next to its GraphQL
 * path, so `http://host:4001/graphql` is checked at `http://host:4001/ready`.
 */
export function readinessUrl(graphqlUrl: string): string {
  return new URL('ready', graphqlUrl).toString();
}

/**
 * Requests `/ready` of every subgraph at once. A subgraph is ready when it
 * responds 200 within `timeoutMs`.
 */
export async function checkSubgraphReadiness(
  endpoints: readonly SubgraphEndpoint[],
  dispatcher: Dispatcher,
  timeoutMs: number,
): Promise<SubgraphReadiness[]> {
  return Promise.all(
    endpoints.map(async ({ name, url }): Promise<SubgraphReadiness> => {
      try {
        const response = await fetch(readinessUrl(url), {
          dispatcher,
          signal: AbortSignal.timeout(timeoutMs),
        });
        // Reading the body returns the connection to the pool.
        await response.arrayBuffer();
        if (response.status === 200) return { name, ready: true };
        return { name, ready: false, reason: `HTTP ${response.status}` };
      } catch (error) {
        const reason =
          describeUnreachable(error, timeoutMs) ??
          (error instanceof Error ? error.message : 'request failed');
        return { name, ready: false, reason };
      }
    }),
  );
}
