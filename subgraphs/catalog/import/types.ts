import type { Logger } from '../../../platform/logger.js';
import type {
  ImageValue,
  ProductOptionValue,
  ProductRow,
  SelectedOptionValue,
  VariantRow,
} from '../db/tables.js';

export type CatalogFormat = 'woocommerce' | 'shopify';

/** A problem with one row, at its physical line in the file (header = 1). */
export interface RowIssue {
  line: number;
  message: string;
}

export interface ChangeCounts {
  created: number;
  updated: number;
  unchanged: number;
}

export interface ImportReport {
  format: CatalogFormat;
  /** Data rows read from the file, not counting the header. */
  rows: number;
  products: ChangeCounts;
  /** A variant counts as updated when its own fields changed. */
  variants: ChangeCounts;
  /** On-hand changes recorded at the default location with reason IMPORT. */
  stockAdjustments: number;
  /** Rows whose product was not written, with the reason. */
  errors: RowIssue[];
  /** Rows that were imported with a value changed or left out, and why. */
  warnings: RowIssue[];
}

export interface ImportOptions {
  /** ISO 4217 code of every price in the file, such as USD. */
  currency: string;
  logger: Logger;
  /** Called after each product with the data rows handled so far. */
  onProgress?(done: number, total: number): void;
}

/** Product fields the importer sets; the rest keep their stored values. */
export type ProductFields = Pick<
  ProductRow,
  | 'title'
  | 'description'
  | 'summary'
  | 'status'
  | 'productType'
  | 'vendor'
  | 'listed'
  | 'externalUrl'
  | 'externalButtonText'
  | 'categories'
  | 'tags'
> & {
  options: ProductOptionValue[];
  images: ImageValue[];
};

/** Variant fields the importer sets, without the currency (an option). */
export type VariantFields = Pick<
  VariantRow,
  | 'sku'
  | 'title'
  | 'position'
  | 'priceAmount'
  | 'compareAtAmount'
  | 'purchasable'
  | 'tracksInventory'
  | 'inventoryPolicy'
  | 'requiresShipping'
  | 'downloadable'
  | 'weightValue'
  | 'weightUnit'
  | 'length'
  | 'width'
  | 'height'
  | 'dimensionUnit'
  | 'barcode'
  | 'imageUrl'
> & {
  selectedOptions: SelectedOptionValue[];
};

export interface VariantDraft {
  fields: VariantFields;
  /**
   * On-hand quantity to set at the default location, or null to leave the
   * stored stock as it is (untracked, or no quantity in the file).
   */
  onHand: number | null;
  line: number;
}

export interface GroupMemberRef {
  sourceRef: string;
  /** The reference as written in the file, for messages. */
  label: string;
}

/** One product as read from the file, ready to be written. */
export interface ProductDraft {
  /** Identity across re-imports, such as `woocommerce:sku:woo-hoodie`. */
  sourceRef: string;
  /** Handle to start from for a new product; existing products keep theirs. */
  handleBase: string;
  fields: ProductFields;
  variants: VariantDraft[];
  /** Members of a grouped product, in display order. */
  members: GroupMemberRef[];
  /** Line of the product's own row. */
  line: number;
  /** Data rows that make up the product, for progress. */
  rowCount: number;
}

/** Drafts and row issues read from a file of one format. */
export interface DraftSet {
  drafts: ProductDraft[];
  errors: RowIssue[];
  warnings: RowIssue[];
}
