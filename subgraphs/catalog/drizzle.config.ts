import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './subgraphs/catalog/db/tables.ts',
  out: './subgraphs/catalog/migrations',
});
