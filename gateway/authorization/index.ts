import type { ApolloServerPlugin } from '@apollo/server';
import type { GatewayContext } from '../context.js';

/**
 * Prepares a supergraph text for @apollo/gateway. Authorization directives
 * will be read out of it here, and their links removed, because
 * @apollo/gateway 2.14 rejects links imported `for: SECURITY`.
 */
export function prepareSupergraph(sdl: string): string {
  return sdl;
}

/** Enforces field authorization before planning. NOTE: enforces nothing yet. */
export function createAuthorizationPlugin(): ApolloServerPlugin<GatewayContext> {
  return {};
}
