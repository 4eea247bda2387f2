/**
 * The Google Merchant Center product feed: RSS 2.0 with Google's `g:`
 * namespace (http://base.google.com/ns/1.0), one `<item>` per variant, as
 * Google's product data specification describes it
 * (https://support.google.com/merchants/answer/7052112).
 */

/** A catalog product as the feed reads it. */
export interface FeedProduct {
  id: string;
  handle: string;
  title: string;
  /** HTML. */
  description: string;
  vendor: string | null;
  productType: 'STANDARD' | 'GROUPED' | 'EXTERNAL';
  categories: string[];
  images: { url: string }[];
  options: { name: string }[];
  variants: FeedVariant[];
}

export interface FeedVariant {
  sku: string;
  title: string;
  selectedOptions: { name: string; value: string | null }[];
  price: { amount: string; currencyCode: string } | null;
  availableForSale: boolean;
  quantityAvailable: number | null;
  inventoryPolicy: 'DENY' | 'CONTINUE';
  weight: {
    value: string;
    unit: 'GRAMS' | 'KILOGRAMS' | 'POUNDS' | 'OUNCES';
  } | null;
  barcode: string | null;
  image: { url: string } | null;
}

export interface FeedOptions {
  /** Storefront origin and path prefix, without a trailing slash. */
  storefrontBaseUrl: string;
  /** Shown as the channel's title. */
  shopName: string;
  /** Brand of products without a vendor; null leaves them without one. */
  defaultBrand: string | null;
  /** Build time; backorder dates count from it. */
  now: Date;
}

export type Availability = 'in_stock' | 'out_of_stock' | 'backorder';

/** Google's limits, in characters. */
const MAX_ID = 50;
const MAX_TITLE = 150;
const MAX_DESCRIPTION = 5000;
const MAX_ADDITIONAL_IMAGES = 10;
/**
 * Google requires `availability_date` with `backorder`. The catalog keeps
 * no restock dates.
 * NOTE: the date is an estimate of 14 days after the build.
 */
const BACKORDER_LEAD_DAYS = 14;

const WEIGHT_UNITS = {
  GRAMS: 'g',
  KILOGRAMS: 'kg',
  POUNDS: 'lb',
  OUNCES: 'oz',
} as const;

/** Characters XML 1.0 does not allow, even escaped. */
const INVALID_XML_CHARACTERS =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDFFF]/gu;

/** Escapes text for XML element content and attribute values. */
export function escapeXml(text: string): string {
  return text
    .replace(INVALID_XML_CHARACTERS, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
};

/** Plain text of an HTML description: tags removed, entities decoded, spaces collapsed. */
export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<br\s*\/?>|<\/p>|<\/li>|<\/h\d>/gi, ' ')
    .replace(/<[^>]*>/g, '')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity, name: string) => {
      if (name[0] === '#') {
        const code =
          name[1] === 'x' || name[1] === 'X'
            ? parseInt(name.slice(2), 16)
            : parseInt(name.slice(1), 10);
        return Number.isFinite(code) && code > 0 && code <= 0x10ffff
          ? String.fromCodePoint(code)
          : '';
      }
      return NAMED_ENTITIES[name.toLowerCase()] ?? entity;
    })
    .replace(/\s+/g, ' ')
    .trim();
}

/** Cuts `text` to `max` characters at a word boundary when one is near, with an ellipsis. */
function truncate(text: string, max: number): string {
  const characters = [...text];
  if (characters.length <= max) return text;
  const cut = characters.slice(0, max - 1).join('');
  const space = cut.lastIndexOf(' ');
  return `${space > max * 0.8 ? cut.slice(0, space) : cut}…`;
}

/**
 * True for a GTIN-8, -12, -13 or -14 whose check digit is right, as GS1
 * defines it: weights 3 and 1 alternate from the digit before the check digit.
 */
export function isValidGtin(code: string): boolean {
  if (!/^(\d{8}|\d{12}|\d{13}|\d{14})$/.test(code)) return false;
  const digits = [...code].map(Number);
  const check = digits.pop()!;
  let sum = 0;
  digits.reverse().forEach((digit, index) => {
    sum += digit * (index % 2 === 0 ? 3 : 1);
  });
  return (10 - (sum % 10)) % 10 === check;
}

/**
 * Google's availability of a variant: in stock while units are available
 * or stock is not tracked, backorder when none are left but the variant
 * keeps selling (inventory policy CONTINUE), else out of stock.
 */
export function availabilityOf(variant: FeedVariant): Availability {
  if (!variant.availableForSale) return 'out_of_stock';
  if (variant.quantityAvailable === null || variant.quantityAvailable > 0) {
    return 'in_stock';
  }
  return variant.inventoryPolicy === 'CONTINUE' ? 'backorder' : 'out_of_stock';
}

/** ISO 8601 in the form Google documents: `YYYY-MM-DDThh:mmZ`. */
function googleDateTime(date: Date): string {
  return `${date.toISOString().slice(0, 16)}Z`;
}

function optionValue(variant: FeedVariant, names: string[]): string | null {
  const option = variant.selectedOptions.find((candidate) =>
    names.includes(candidate.name.trim().toLowerCase()),
  );
  return option?.value ?? null;
}

/** Reason a variant has no item, counted by the caller. */
export type SkipReason =
  'sold_elsewhere' | 'no_price' | 'no_image' | 'id_too_long';

/**
 * Returns the `g:` elements of one variant's item, in order, or the reason
 * it has none when Google would reject it for a missing required attribute.
 */
export function itemAttributes(
  product: FeedProduct,
  variant: FeedVariant,
  options: FeedOptions,
): Array<[string, string]> | SkipReason {
  // An EXTERNAL product is bought on another site, so this shop has no
  // page where it can be bought, as Google requires of `link`.
  if (product.productType === 'EXTERNAL') return 'sold_elsewhere';
  if (!variant.price) return 'no_price';
  if ([...variant.sku].length > MAX_ID) return 'id_too_long';
  const imageUrl = variant.image?.url ?? product.images[0]?.url;
  if (!imageUrl) return 'no_image';

  const hasVariants = product.variants.length > 1 || product.options.length > 0;
  const title =
    product.options.length > 0 && variant.title
      ? `${product.title} - ${variant.title}`
      : product.title;
  const description = htmlToText(product.description) || title;
  const availability = availabilityOf(variant);
  const attributes: Array<[string, string]> = [
    ['id', variant.sku],
    ['title', truncate(title, MAX_TITLE)],
    ['description', truncate(description, MAX_DESCRIPTION)],
    [
      'link',
      `${options.storefrontBaseUrl}/products/${encodeURIComponent(product.handle)}`,
    ],
    ['image_link', imageUrl],
  ];
  for (const image of product.images
    .filter((candidate) => candidate.url !== imageUrl)
    .slice(0, MAX_ADDITIONAL_IMAGES)) {
    attributes.push(['additional_image_link', image.url]);
  }
  attributes.push(['availability', availability]);
  if (availability === 'backorder') {
    const date = new Date(
      options.now.getTime() + BACKORDER_LEAD_DAYS * 86_400_000,
    );
    attributes.push(['availability_date', googleDateTime(date)]);
  }
  attributes.push([
    'price',
    `${variant.price.amount} ${variant.price.currencyCode}`,
  ]);
  attributes.push(['condition', 'new']);
  const brand = product.vendor?.trim() || options.defaultBrand;
  if (brand) attributes.push(['brand', brand]);
  const gtin = variant.barcode?.trim() ?? '';
  if (isValidGtin(gtin)) {
    attributes.push(['gtin', gtin]);
  } else {
    // The catalog keeps no manufacturer part numbers, so an item without a
    // valid GTIN has no unique product identifier.
    attributes.push(['identifier_exists', 'no']);
  }
  if (hasVariants) attributes.push(['item_group_id', product.id]);
  const color = optionValue(variant, ['color', 'colour']);
  if (color) attributes.push(['color', color]);
  const size = optionValue(variant, ['size']);
  if (size) attributes.push(['size', size]);
  if (product.categories[0]) {
    attributes.push(['product_type', product.categories[0]]);
  }
  if (variant.weight) {
    attributes.push([
      'shipping_weight',
      `${variant.weight.value} ${WEIGHT_UNITS[variant.weight.unit]}`,
    ]);
  }
  return attributes;
}

/**
 * Builds the feed document of `products`. Variants Google would reject
 * (products sold on another site, no price, no image, an SKU longer than
 * 50 characters) are left out and counted in `skipped`.
 */
export function buildGoogleFeed(
  products: FeedProduct[],
  options: FeedOptions,
): { xml: string; items: number; skipped: Record<SkipReason, number> } {
  const skipped: Record<SkipReason, number> = {
    sold_elsewhere: 0,
    no_price: 0,
    no_image: 0,
    id_too_long: 0,
  };
  const items: string[] = [];
  for (const product of products) {
    for (const variant of product.variants) {
      const attributes = itemAttributes(product, variant, options);
      if (typeof attributes === 'string') {
        skipped[attributes] += 1;
        continue;
      }
      const lines = attributes.map(
        ([name, value]) => `      <g:${name}>${escapeXml(value)}</g:${name}>`,
      );
      items.push(`    <item>\n${lines.join('\n')}\n    </item>`);
    }
  }
  const xml = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">',
    '  <channel>',
    `    <title>${escapeXml(options.shopName)}</title>`,
    `    <link>${escapeXml(`${options.storefrontBaseUrl}/`)}</link>`,
    `    <description>${escapeXml(`Products of ${options.shopName}`)}</description>`,
    ...items,
    '  </channel>',
    '</rss>',
    '',
  ].join('\n');
  return { xml, items: items.length, skipped };
}
