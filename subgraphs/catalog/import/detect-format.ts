import { ImportFileError } from './csv-table.js';
import { SHOPIFY_REQUIRED_COLUMNS } from './shopify.js';
import type { CatalogFormat } from './types.js';
import { WOOCOMMERCE_REQUIRED_COLUMNS } from './woocommerce.js';

/**
 * Tells the format from the header row. Throws an ImportFileError that
 * names the columns each format needs when the header matches neither.
 */
export function detectFormat(header: string[]): CatalogFormat {
  const hasAll = (columns: string[]) =>
    columns.every((column) => header.includes(column));
  if (hasAll(WOOCOMMERCE_REQUIRED_COLUMNS)) return 'woocommerce';
  if (hasAll(SHOPIFY_REQUIRED_COLUMNS)) return 'shopify';

  const listed = header
    .slice(0, 8)
    .map((column) => `"${column}"`)
    .join(', ');
  const more = header.length > 8 ? `, and ${header.length - 8} more` : '';
  throw new ImportFileError(
    'Unknown CSV header. Expected a WooCommerce product export ' +
      `(columns ${WOOCOMMERCE_REQUIRED_COLUMNS.join(', ')}) ` +
      `or a Shopify product CSV (columns ${SHOPIFY_REQUIRED_COLUMNS.join(', ')}); ` +
      `the header has ${listed}${more}.`,
  );
}
