/** Context that binds encrypted credentials to their connection row. */
export function credentialsContext(connectionId: string): string {
  return `marketplace_connections:${connectionId}:credentials`;
}
