import type { ProductOptionValue, SelectedOptionValue } from '../db/tables.js';
import { variantTitle } from '../services/catalog-values.js';
import type { RowReader } from './row-reader.js';
import type { VariantDraft } from './types.js';
import { splitWooList, type WooAttribute } from './woocommerce-cells.js';
import {
  readWooImages,
  readWooMeasures,
  readWooPrice,
  readWooStock,
  readWooVariationEnabled,
  type MeasureFields,
} from './woocommerce-fields.js';
import type { WooContext, WooProduct, WooRow } from './woocommerce-rows.js';

/**
 * Builds the options and variants of a variable product. Options are the
 * parent's attributes that its variations use; other attributes only
 * describe the product in WooCommerce and are not imported. A variation's
 * empty attribute value means "any value" and becomes null.
 */
export function buildVariationVariants(
  product: WooProduct,
  productTitle: string,
  parentMeasures: MeasureFields,
  context: WooContext,
): { options: ProductOptionValue[]; variants: VariantDraft[] } {
  const parentAttributes = readAttributes(product.row.reader, context);
  const variations = product.variations.map((row) => ({
    row,
    attributes: readAttributes(row.reader, context),
    position: row.reader.integer('Position') ?? 0,
  }));

  const options: ProductOptionValue[] = [];
  for (const attribute of parentAttributes) {
    const used = variations.some((variation) =>
      variation.attributes.some((own) => sameName(own.name, attribute.name)),
    );
    if (used) {
      const values = splitWooList(attribute.values);
      options.push({ name: attribute.name, values });
    }
  }

  // WooCommerce orders variations by their Position ("menu_order"); equal
  // positions keep the file order because Array.prototype.sort is stable.
  variations.sort((a, b) => a.position - b.position);
  const variants = variations.map((variation, index) => {
    const { reader } = variation.row;
    const selected = selectOptions(reader, variation.attributes, options);
    const fallbackTitle = reader.text('Name') || productTitle;
    return variationVariant(variation.row, {
      title: variantTitle(selected, fallbackTitle),
      position: index,
      selected,
      parentMeasures,
      context,
    });
  });
  return { options, variants };
}

function readAttributes(
  reader: RowReader,
  context: WooContext,
): WooAttribute[] {
  return context.attributeNumbers
    .map((number) => ({
      name: reader.text(`Attribute ${number} name`),
      values: reader.text(`Attribute ${number} value(s)`),
    }))
    .filter((attribute) => attribute.name !== '');
}

function sameName(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/**
 * Matches a variation's attributes to the product options, using the
 * parent's spelling of each value. A value the parent does not list is
 * added to the option with a warning.
 */
function selectOptions(
  reader: RowReader,
  attributes: WooAttribute[],
  options: ProductOptionValue[],
): SelectedOptionValue[] {
  for (const attribute of attributes) {
    if (!options.some((option) => sameName(option.name, attribute.name))) {
      reader.error(
        `Attribute "${attribute.name}" is not an attribute of the parent product; add it to the parent's attribute columns.`,
      );
    }
  }
  return options.map((option) => {
    const own = attributes.find((attribute) =>
      sameName(attribute.name, option.name),
    );
    const value = own ? (splitWooList(own.values)[0] ?? '') : '';
    if (value === '') return { name: option.name, value: null };
    const known = option.values.find((candidate) => sameName(candidate, value));
    if (known !== undefined) return { name: option.name, value: known };
    option.values.push(value);
    reader.warn(
      `Attribute "${option.name}": "${value}" is not among the parent's values, so it was added to them.`,
    );
    return { name: option.name, value };
  });
}

/** Builds the variant of one variation row. */
function variationVariant(
  row: WooRow,
  settings: {
    title: string;
    position: number;
    selected: SelectedOptionValue[];
    parentMeasures: MeasureFields;
    context: WooContext;
  },
): VariantDraft {
  const { reader } = row;
  const { context } = settings;
  if (row.sku === '') {
    reader.error(
      'SKU is missing; variants are matched on their SKU on re-import.',
    );
  }
  const stock = readWooStock(reader, true);
  const images = readWooImages(reader, 'Images');
  return {
    fields: {
      sku: row.sku,
      title: settings.title,
      position: settings.position,
      selectedOptions: settings.selected,
      ...readWooPrice(reader, context.currency, context.today),
      purchasable: readWooVariationEnabled(reader),
      tracksInventory: stock.tracksInventory,
      inventoryPolicy: stock.inventoryPolicy,
      requiresShipping: !row.virtual,
      downloadable: row.downloadable,
      ...readWooMeasures(reader, context.measures, settings.parentMeasures),
      barcode: reader.optionalText('GTIN, UPC, EAN, or ISBN'),
      imageUrl: images[0] ?? null,
    },
    onHand: stock.onHand,
    line: reader.line,
  };
}
