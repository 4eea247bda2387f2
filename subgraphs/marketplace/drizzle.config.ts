import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './subgraphs/marketplace/db/tables.ts',
  out: './subgraphs/marketplace/migrations',
});
