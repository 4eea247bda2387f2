import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './subgraphs/shipments/db/tables.ts',
  out: './subgraphs/shipments/migrations',
});
