import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './subgraphs/orders/db/tables.ts',
  out: './subgraphs/orders/migrations',
});
