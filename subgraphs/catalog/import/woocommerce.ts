import {
  normaliseCategoryPath,
  slugify,
  uniqueValues,
} from '../services/catalog-values.js';
import type { CsvTable } from './csv-table.js';
import { RowReader } from './row-reader.js';
import type {
  DraftSet,
  GroupMemberRef,
  ProductDraft,
  ProductFields,
  RowIssue,
  VariantDraft,
} from './types.js';
import {
  decodeWooDescription,
  findWooAttributeNumbers,
  findWooMeasureColumns,
  splitWooList,
  unescapeWooCell,
} from './woocommerce-cells.js';
import {
  readWooImages,
  readWooListed,
  readWooMeasures,
  readWooPrice,
  readWooStatus,
  readWooStock,
  type MeasureFields,
} from './woocommerce-fields.js';
import {
  attachVariations,
  collectProducts,
  readWooRow,
  type WooContext,
  type WooProduct,
  type WooRow,
} from './woocommerce-rows.js';
import { buildVariationVariants } from './woocommerce-variations.js';

/** Columns that identify a WooCommerce product export. */
export const WOOCOMMERCE_REQUIRED_COLUMNS = ['Type', 'SKU', 'Name'];

/**
 * Turns the rows of a WooCommerce export into product drafts. Variations
 * join the product named in their Parent column, wherever they are in the
 * file. A product whose own row or any of its variations is invalid is
 * left out, and every invalid row is reported.
 */
export function readWooCommerceDrafts(
  table: CsvTable,
  options: { currency: string; today: string },
): DraftSet {
  const errors: RowIssue[] = [];
  const warnings: RowIssue[] = [];
  const rows = table.rows.map((row) =>
    readWooRow(new RowReader(row, unescapeWooCell)),
  );

  const products = collectProducts(rows);
  const context: WooContext = {
    ...options,
    measures: findWooMeasureColumns(table.header),
    attributeNumbers: findWooAttributeNumbers(table.header),
    resolveRef: products.resolveRef,
  };
  errors.push(...attachVariations(rows, context));

  const drafts: ProductDraft[] = [];
  const skuLines = new Map<string, number>();
  for (const product of products.list) {
    const draft = buildDraft(product, context);
    // A product that already failed does not claim its SKUs, so a later
    // product with the same SKU can still be imported.
    if (collectIssues(product, 'errors').length === 0) {
      checkVariantSkus(product, draft, skuLines);
    }
    const productErrors = collectIssues(product, 'errors');
    if (productErrors.length > 0) {
      errors.push(...productErrors);
    } else {
      drafts.push(draft);
      warnings.push(...collectIssues(product, 'warnings'));
    }
  }
  errors.sort((a, b) => a.line - b.line);
  warnings.sort((a, b) => a.line - b.line);
  return { drafts, errors, warnings };
}

function buildDraft(product: WooProduct, context: WooContext): ProductDraft {
  const { row } = product;
  const { reader } = row;
  const fields = readProductFields(row);
  const measures = readWooMeasures(reader, context.measures);

  let variants: VariantDraft[] = [];
  if (row.kind === 'simple' || row.kind === 'external') {
    variants = [singleVariant(row, fields.title, measures, context)];
  } else if (row.kind === 'variable') {
    const built = buildVariationVariants(
      product,
      fields.title,
      measures,
      context,
    );
    fields.options = built.options;
    variants = built.variants;
  }

  const members: GroupMemberRef[] = [];
  if (row.kind === 'grouped') {
    for (const reference of splitWooList(reader.text('Grouped products'))) {
      const sourceRef = memberSourceRef(reference, context);
      if (!members.some((member) => member.sourceRef === sourceRef)) {
        members.push({ sourceRef, label: reference });
      }
    }
  }

  return {
    sourceRef: product.sourceRef,
    handleBase: slugify(fields.title),
    fields,
    variants,
    members,
    line: reader.line,
    rowCount: 1 + product.variations.length,
  };
}

function readProductFields(row: WooRow): ProductFields {
  const { reader } = row;
  const title = reader.text('Name');
  if (title === '') reader.error('Name is missing.');
  const isExternal = row.kind === 'external';
  const externalUrl = isExternal ? reader.url('External URL') : null;
  if (isExternal && reader.text('External URL') === '') {
    reader.error('External URL is missing; an external product links to it.');
  }
  const summary = decodeWooDescription(reader.rawText('Short description'));

  return {
    title,
    description: decodeWooDescription(reader.rawText('Description')),
    summary: summary.trim() === '' ? null : summary,
    status: readWooStatus(reader),
    productType: productTypeOf(row),
    vendor: null,
    listed: readWooListed(reader),
    externalUrl,
    externalButtonText: isExternal ? reader.optionalText('Button text') : null,
    options: [],
    images: readWooImages(reader, 'Images').map((url) => ({
      url,
      altText: null,
    })),
    categories: uniqueValues(
      splitWooList(reader.text('Categories')).map(normaliseCategoryPath),
    ),
    tags: uniqueValues(splitWooList(reader.text('Tags'))),
  };
}

function productTypeOf(row: WooRow): ProductFields['productType'] {
  if (row.kind === 'grouped') return 'GROUPED';
  if (row.kind === 'external') return 'EXTERNAL';
  return 'STANDARD';
}

/**
 * Builds the one variant of a simple or external product. It takes the
 * product's SKU, or `woocommerce-id-<ID>` when the product has none. An
 * external product is sold elsewhere, so its variant is not purchasable,
 * does not track stock and does not ship.
 */
function singleVariant(
  row: WooRow,
  productTitle: string,
  measures: MeasureFields,
  context: WooContext,
): VariantDraft {
  const { reader } = row;
  const isExternal = row.kind === 'external';
  const stock = isExternal
    ? { tracksInventory: false, inventoryPolicy: 'DENY' as const, onHand: null }
    : readWooStock(reader, false);
  return {
    fields: {
      sku: row.sku !== '' ? row.sku : `woocommerce-id-${row.id}`,
      title: productTitle,
      position: 0,
      selectedOptions: [],
      ...readWooPrice(reader, context.currency, context.today),
      purchasable: !isExternal,
      tracksInventory: stock.tracksInventory,
      inventoryPolicy: stock.inventoryPolicy,
      requiresShipping: !isExternal && !row.virtual,
      downloadable: row.downloadable,
      ...measures,
      barcode: reader.optionalText('GTIN, UPC, EAN, or ISBN'),
      imageUrl: null,
    },
    onHand: stock.onHand,
    line: reader.line,
  };
}

/**
 * Turns a "Grouped products" entry into a source reference. An entry that
 * names a product in the file takes that product's reference; otherwise it
 * refers to a product imported earlier.
 */
function memberSourceRef(reference: string, context: WooContext): string {
  const inFile = context.resolveRef(reference);
  if (inFile) return inFile.sourceRef;
  const idMatch = /^id:(\d+)$/.exec(reference);
  return idMatch
    ? `woocommerce:id:${idMatch[1]}`
    : `woocommerce:sku:${reference}`;
}

/** Reports a variant SKU that an earlier product in the file already used. */
function checkVariantSkus(
  product: WooProduct,
  draft: ProductDraft,
  skuLines: Map<string, number>,
): void {
  for (const variant of draft.variants) {
    const { sku } = variant.fields;
    if (sku === '') continue;
    const firstLine = skuLines.get(sku);
    if (firstLine === undefined) {
      skuLines.set(sku, variant.line);
      continue;
    }
    const row =
      product.variations.find(
        (variation) => variation.reader.line === variant.line,
      ) ?? product.row;
    row.reader.error(
      `SKU "${sku}" is also on line ${firstLine}; each variant needs its own.`,
    );
  }
}

/**
 * Lists the errors or warnings of a product's rows. An error on a
 * variation also names the product it kept out of the import.
 */
function collectIssues(
  product: WooProduct,
  kind: 'errors' | 'warnings',
): RowIssue[] {
  const issues: RowIssue[] = product.row.reader[kind].map((message) => ({
    line: product.row.reader.line,
    message,
  }));
  const { row } = product;
  const label = row.sku !== '' ? row.sku : row.reader.text('Name');
  const blocked = ` Product "${label}" on line ${row.reader.line} was not imported.`;
  for (const variation of product.variations) {
    for (const message of variation.reader[kind]) {
      issues.push({
        line: variation.reader.line,
        message: kind === 'errors' ? message + blocked : message,
      });
    }
  }
  return issues;
}
