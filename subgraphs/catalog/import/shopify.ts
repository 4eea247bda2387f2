import type {
  ImageValue,
  ProductOptionValue,
  ProductRow,
  SelectedOptionValue,
  VariantRow,
} from '../db/tables.js';
import {
  normaliseCategoryPath,
  slugify,
  uniqueValues,
  variantTitle,
} from '../services/catalog-values.js';
import type { CsvTable } from './csv-table.js';
import { isHttpUrl, RowReader } from './row-reader.js';
import type {
  DraftSet,
  ProductDraft,
  ProductFields,
  RowIssue,
  VariantDraft,
} from './types.js';

/**
 * Columns that identify a Shopify product CSV in the classic layout
 * documented in Shopify's help center ("Using CSV files to import and
 * export products"): one row per variant, rows of a product sharing Handle.
 */
export const SHOPIFY_REQUIRED_COLUMNS = ['Handle', 'Title'];

const OPTION_NUMBERS = [1, 2, 3] as const;

/** Columns that only a variant row fills in; image-only rows have none. */
const VARIANT_COLUMNS = [
  'Option1 Value',
  'Option2 Value',
  'Option3 Value',
  'Variant SKU',
  'Variant Price',
  'Variant Compare At Price',
  'Variant Grams',
  'Variant Inventory Qty',
  'Variant Barcode',
];

interface ShopifyProduct {
  handle: string;
  readers: RowReader[];
}

/**
 * Turns the rows of a Shopify product CSV into product drafts. The first
 * row of a handle carries the product fields and its first variant; later
 * rows add variants or, with only Image Src set, images.
 */
export function readShopifyDrafts(
  table: CsvTable,
  options: { currency: string },
): DraftSet {
  const errors: RowIssue[] = [];
  const warnings: RowIssue[] = [];
  const products = new Map<string, ShopifyProduct>();

  for (const row of table.rows) {
    const reader = new RowReader(row);
    const handle = reader.text('Handle');
    if (handle === '') {
      errors.push({
        line: reader.line,
        message:
          'Handle is missing; every row names the handle of its product.',
      });
      continue;
    }
    const product = products.get(handle);
    if (product) {
      product.readers.push(reader);
    } else {
      products.set(handle, { handle, readers: [reader] });
    }
  }

  const drafts: ProductDraft[] = [];
  const skuLines = new Map<string, number>();
  for (const product of products.values()) {
    const draft = buildDraft(product, options.currency);
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

function buildDraft(product: ShopifyProduct, currency: string): ProductDraft {
  const first = product.readers[0]!;
  const fields = readProductFields(first);
  const options = readOptionNames(first);

  const variantReaders = product.readers.filter(
    (reader, index) =>
      index === 0 ||
      VARIANT_COLUMNS.some((column) => reader.text(column) !== ''),
  );
  const variants = variantReaders.map((reader, position) =>
    readVariant(reader, {
      product,
      options,
      position,
      productTitle: fields.title,
      currency,
    }),
  );
  fields.options = options.map(({ name, values }) => ({ name, values }));
  fields.images = readImages(product.readers);

  return {
    sourceRef: `shopify:handle:${product.handle}`,
    handleBase: slugify(product.handle),
    fields,
    variants,
    members: [],
    line: first.line,
    rowCount: product.readers.length,
  };
}

function readProductFields(reader: RowReader): ProductFields {
  const title = reader.text('Title');
  if (title === '') {
    reader.error(
      `Title is missing on the first row of handle "${reader.text('Handle')}".`,
    );
  }
  const categories = [normaliseCategoryPath(reader.text('Product Category'))];
  categories.push(normaliseCategoryPath(reader.text('Type')));
  return {
    title,
    description: reader.rawText('Body (HTML)'),
    summary: null,
    status: readStatus(reader),
    productType: 'STANDARD',
    vendor: reader.optionalText('Vendor'),
    listed: true,
    externalUrl: null,
    externalButtonText: null,
    options: [],
    images: [],
    categories: uniqueValues(categories),
    tags: uniqueValues(
      reader
        .text('Tags')
        .split(',')
        .map((tag) => tag.trim()),
    ),
  };
}

/**
 * Maps Status (active, draft, archived). A product that is active but not
 * published to the online store (Published FALSE) is DRAFT, because the
 * storefront is the graph's equivalent of the online store. Files without
 * a Status column use Published alone, where empty means not published.
 */
function readStatus(reader: RowReader): ProductRow['status'] {
  const published = reader.flag('Published', false);
  const hasPublished = reader.text('Published') !== '';
  const status = reader.text('Status').toLowerCase();
  if (status === '') return published ? 'ACTIVE' : 'DRAFT';
  if (status === 'draft') return 'DRAFT';
  if (status === 'archived') return 'ARCHIVED';
  if (status === 'active')
    return hasPublished && !published ? 'DRAFT' : 'ACTIVE';
  reader.error(
    `Status: "${reader.text('Status')}" is not one of active, draft, archived.`,
  );
  return 'DRAFT';
}

interface OptionColumn extends ProductOptionValue {
  number: number;
}

/**
 * Reads Option1..3 Name from the first row. Shopify writes a product
 * without options as Option1 Name "Title" with the value "Default Title";
 * that product gets no options.
 */
function readOptionNames(first: RowReader): OptionColumn[] {
  const isDefault =
    first.text('Option1 Name') === 'Title' &&
    first.text('Option1 Value') === 'Default Title';
  if (isDefault) return [];
  const options: OptionColumn[] = [];
  for (const number of OPTION_NUMBERS) {
    const name = first.text(`Option${number} Name`);
    if (name !== '') options.push({ number, name, values: [] });
  }
  return options;
}

function readVariant(
  reader: RowReader,
  context: {
    product: ShopifyProduct;
    options: OptionColumn[];
    position: number;
    productTitle: string;
    currency: string;
  },
): VariantDraft {
  const selectedOptions = selectOptions(reader, context.options);
  const tracked = reader.text('Variant Inventory Tracker') !== '';
  return {
    fields: {
      sku: readSku(reader, context.product.handle, selectedOptions),
      title: variantTitle(selectedOptions, context.productTitle),
      position: context.position,
      selectedOptions,
      priceAmount: reader.money('Variant Price', context.currency),
      compareAtAmount: readCompareAt(reader, context.currency),
      purchasable: true,
      tracksInventory: tracked,
      inventoryPolicy: readInventoryPolicy(reader),
      requiresShipping: reader.flag('Variant Requires Shipping', true),
      downloadable: false,
      ...readWeight(reader),
      length: null,
      width: null,
      height: null,
      dimensionUnit: null,
      barcode: reader.optionalText('Variant Barcode'),
      imageUrl: readImageUrl(reader, 'Variant Image'),
    },
    onHand: tracked ? readQuantity(reader) : null,
    line: reader.line,
  };
}

/** Reads the row's option values and adds new ones to the options. */
function selectOptions(
  reader: RowReader,
  options: OptionColumn[],
): SelectedOptionValue[] {
  for (const number of OPTION_NUMBERS) {
    const value = reader.text(`Option${number} Value`);
    const named = options.some((option) => option.number === number);
    const isDefaultTitle = number === 1 && value === 'Default Title';
    if (value !== '' && !named && !isDefaultTitle) {
      reader.error(
        `Option${number} Value "${value}" has no Option${number} Name on the product's first row.`,
      );
    }
  }
  return options.map((option) => {
    const value = reader.text(`Option${option.number} Value`);
    if (value === '') {
      reader.error(
        `Option${option.number} Value is missing; every variant needs a value for "${option.name}".`,
      );
      return { name: option.name, value: null };
    }
    if (!option.values.includes(value)) option.values.push(value);
    return { name: option.name, value };
  });
}

/**
 * Returns Variant SKU. Variants are matched on their SKU, so a variant
 * without one gets a SKU made from the handle and its option values, which
 * stays the same on re-import while the options do.
 */
function readSku(
  reader: RowReader,
  handle: string,
  selectedOptions: SelectedOptionValue[],
): string {
  const sku = reader.text('Variant SKU');
  if (sku !== '') return sku;
  const values = selectedOptions.map((option) => option.value ?? '');
  const generated = slugify([handle, ...values].join(' '));
  reader.warn(
    `Variant SKU is empty, so the variant was given the SKU "${generated}".`,
  );
  return generated;
}

/** Reads Variant Compare At Price, where 0 means no compare-at price. */
function readCompareAt(reader: RowReader, currency: string): number | null {
  const amount = reader.money('Variant Compare At Price', currency);
  return amount === 0 ? null : amount;
}

function readInventoryPolicy(reader: RowReader): VariantRow['inventoryPolicy'] {
  const value = reader.text('Variant Inventory Policy').toLowerCase();
  if (value === 'continue') return 'CONTINUE';
  if (value === '' || value === 'deny') return 'DENY';
  reader.error(
    `Variant Inventory Policy: "${reader.text('Variant Inventory Policy')}" is not one of deny, continue.`,
  );
  return 'DENY';
}

/**
 * Reads Variant Grams. Shopify exports the weight in grams whatever the
 * display unit in Variant Weight Unit, so it is stored in grams as written.
 * Converting it to pounds or ounces would round it.
 */
function readWeight(
  reader: RowReader,
): Pick<VariantRow, 'weightValue' | 'weightUnit'> {
  const grams = reader.decimal('Variant Grams');
  const weightValue = reader.storedDecimal('Variant Grams', grams);
  return weightValue === null
    ? { weightValue: null, weightUnit: null }
    : { weightValue, weightUnit: 'GRAMS' };
}

/** Reads Variant Inventory Qty; null leaves the stored stock as it is. */
function readQuantity(reader: RowReader): number | null {
  const quantity = reader.integer('Variant Inventory Qty');
  if (quantity === null || quantity >= 0) return quantity;
  reader.warn(
    `Variant Inventory Qty: ${quantity} is below zero; on-hand quantities start at 0, so 0 was imported.`,
  );
  return 0;
}

function readImageUrl(reader: RowReader, column: string): string | null {
  const value = reader.text(column);
  if (value === '') return null;
  if (isHttpUrl(value)) return value;
  reader.warn(
    `${column}: "${value}" is not an http or https URL; it was skipped.`,
  );
  return null;
}

/**
 * Collects Image Src of every row of the product, ordered by Image
 * Position where given (file order otherwise), each URL once.
 */
function readImages(readers: RowReader[]): ImageValue[] {
  const images: Array<ImageValue & { position: number; order: number }> = [];
  readers.forEach((reader, order) => {
    const url = readImageUrl(reader, 'Image Src');
    if (url === null || images.some((image) => image.url === url)) return;
    images.push({
      url,
      altText: reader.optionalText('Image Alt Text'),
      position: reader.integer('Image Position') ?? Number.MAX_SAFE_INTEGER,
      order,
    });
  });
  images.sort((a, b) => a.position - b.position || a.order - b.order);
  return images.map(({ url, altText }) => ({ url, altText }));
}

/** Reports a variant SKU that an earlier product or variant already used. */
function checkVariantSkus(
  product: ShopifyProduct,
  draft: ProductDraft,
  skuLines: Map<string, number>,
): void {
  for (const variant of draft.variants) {
    const { sku } = variant.fields;
    const firstLine = skuLines.get(sku);
    if (firstLine === undefined) {
      skuLines.set(sku, variant.line);
      continue;
    }
    const reader = product.readers.find(
      (candidate) => candidate.line === variant.line,
    )!;
    reader.error(
      `Variant SKU "${sku}" is also on line ${firstLine}; each variant needs its own.`,
    );
  }
}

/**
 * Lists the errors or warnings of a product's rows. An error on a later
 * row also names the product it kept out of the import.
 */
function collectIssues(
  product: ShopifyProduct,
  kind: 'errors' | 'warnings',
): RowIssue[] {
  const first = product.readers[0]!;
  const blocked = ` Product "${product.handle}" on line ${first.line} was not imported.`;
  return product.readers.flatMap((reader) =>
    reader[kind].map((message) => ({
      line: reader.line,
      message:
        kind === 'errors' && reader !== first ? message + blocked : message,
    })),
  );
}
