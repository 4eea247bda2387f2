import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../platform/logger.js';
import { importCatalogFile } from '../subgraphs/catalog/import/index.js';
import {
  buildGoogleFeed,
  escapeXml,
  htmlToText,
  isValidGtin,
  type FeedProduct,
} from '../subgraphs/marketplace/feeds/google-feed.js';
import { ADMIN } from './support/checkout.js';
import { startTestStack, type TestStack } from './support/stack.js';

const BASE_URL = 'https://shop.example.com';
const samplePath = fileURLToPath(
  new URL('../data/woocommerce_sample_products.csv', import.meta.url),
);

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({
    STOREFRONT_BASE_URL: BASE_URL,
    FEED_DEFAULT_BRAND: 'WooCommerce',
  });
  await importCatalogFile(
    stack.subgraphs.catalog.database.db as Parameters<
      typeof importCatalogFile
    >[0],
    samplePath,
    { currency: 'USD', logger: createLogger('feed-test', 'silent') },
  );
});

afterAll(async () => {
  await stack?.close();
});

interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
};

function decode(text: string): string {
  return text.replace(/&([^;]*);|&/g, (match, name?: string) => {
    if (name === undefined) throw new Error('Bare & in XML text');
    if (name.startsWith('#x'))
      return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith('#'))
      return String.fromCodePoint(Number(name.slice(1)));
    const value = ENTITIES[name];
    if (value === undefined) throw new Error(`Unknown entity &${name};`);
    return value;
  });
}

/**
 * Parses a well-formed XML document without DTDs, comments, CDATA or
 * processing instructions other than the declaration, which is what the
 * feed contains. Throws on anything malformed: mismatched or unclosed
 * tags, bare `&` or `<` in text, duplicate attributes.
 */
function parseXml(xml: string): XmlElement {
  let position = 0;
  const declaration = /^<\?xml version="1\.0" encoding="UTF-8"\?>\s*/.exec(xml);
  if (!declaration) throw new Error('Missing XML declaration');
  position = declaration[0].length;
  const name = /[A-Za-z_][\w.:-]*/y;

  function element(): XmlElement {
    if (xml[position] !== '<') throw new Error(`Expected < at ${position}`);
    position += 1;
    name.lastIndex = position;
    const tag = name.exec(xml);
    if (!tag) throw new Error(`Expected a tag name at ${position}`);
    position = name.lastIndex;
    const node: XmlElement = {
      name: tag[0],
      attributes: {},
      children: [],
      text: '',
    };
    for (;;) {
      const attribute = /\s+([A-Za-z_][\w.:-]*)="([^"<]*)"/y;
      attribute.lastIndex = position;
      const match = attribute.exec(xml);
      if (!match) break;
      if (match[1]! in node.attributes)
        throw new Error(`Duplicate ${match[1]}`);
      node.attributes[match[1]!] = decode(match[2]!);
      position = attribute.lastIndex;
    }
    const end = /\s*(\/?)>/y;
    end.lastIndex = position;
    const closing = end.exec(xml);
    if (!closing) throw new Error(`Malformed start tag ${node.name}`);
    position = end.lastIndex;
    if (closing[1] === '/') return node;
    for (;;) {
      const next = xml.indexOf('<', position);
      if (next === -1) throw new Error(`Unclosed ${node.name}`);
      node.text += decode(xml.slice(position, next));
      position = next;
      if (xml.startsWith('</', position)) {
        const close = `</${node.name}>`;
        if (!xml.startsWith(close, position)) {
          throw new Error(
            `Mismatched end tag at ${position}, open ${node.name}`,
          );
        }
        position += close.length;
        return node;
      }
      node.children.push(element());
    }
  }

  const root = element();
  if (xml.slice(position).trim() !== '') throw new Error('Content after root');
  return root;
}

function child(node: XmlElement, name: string): XmlElement | undefined {
  return node.children.find((candidate) => candidate.name === name);
}

/** Parses the feed and returns its items as maps of `g:` attribute name to values. */
function itemsOf(xml: string): Map<string, Map<string, string[]>> {
  const rss = parseXml(xml);
  expect(rss.name).toBe('rss');
  expect(rss.attributes).toEqual({
    version: '2.0',
    'xmlns:g': 'http://base.google.com/ns/1.0',
  });
  const channel = child(rss, 'channel')!;
  expect(child(channel, 'title')?.text).toBeTruthy();
  expect(child(channel, 'link')?.text).toBe(`${BASE_URL}/`);
  expect(child(channel, 'description')?.text).toBeTruthy();
  const items = new Map<string, Map<string, string[]>>();
  for (const item of channel.children.filter((node) => node.name === 'item')) {
    const attributes = new Map<string, string[]>();
    for (const node of item.children) {
      expect(node.name.startsWith('g:'), node.name).toBe(true);
      const key = node.name.slice(2);
      attributes.set(key, [...(attributes.get(key) ?? []), node.text]);
    }
    const id = attributes.get('id')?.[0];
    expect(id, 'item without g:id').toBeTruthy();
    expect(items.has(id!), `duplicate id ${id}`).toBe(false);
    items.set(id!, attributes);
  }
  return items;
}

async function fetchFeed(headers: Record<string, string> = {}) {
  return fetch(new URL('/feeds/google.xml', stack.subgraphs.marketplace.url), {
    headers,
  });
}

async function productOf(sku: string) {
  const result = await stack.query(
    `query ($sku: String!) { variant(sku: $sku) { id product { id handle } } }`,
    { sku },
    ADMIN,
  );
  expect(result.errors).toBeUndefined();
  return result.data!.variant;
}

/** Google's rules for each required attribute, checked on every item. */
function expectValidItem(id: string, item: Map<string, string[]>) {
  const one = (name: string) => {
    const values = item.get(name);
    expect(values, `${id}: ${name}`).toHaveLength(1);
    return values![0]!;
  };
  expect([...one('id')].length, `${id}: id length`).toBeLessThanOrEqual(50);
  const title = one('title');
  expect(title.trim().length, `${id}: title`).toBeGreaterThan(0);
  expect([...title].length, `${id}: title length`).toBeLessThanOrEqual(150);
  const description = one('description');
  expect(description.trim().length, `${id}: description`).toBeGreaterThan(0);
  expect([...description].length).toBeLessThanOrEqual(5000);
  expect(description, `${id}: description has HTML`).not.toMatch(/<[a-z/]/i);
  expect(one('link').startsWith(`${BASE_URL}/products/`), `${id}: link`).toBe(
    true,
  );
  expect(one('image_link'), `${id}: image_link`).toMatch(/^https?:\/\/\S+$/);
  const availability = one('availability');
  expect(['in_stock', 'out_of_stock', 'preorder', 'backorder']).toContain(
    availability,
  );
  if (availability === 'backorder' || availability === 'preorder') {
    expect(one('availability_date')).toMatch(
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(Z|[+-]\d{4})$/,
    );
  }
  expect(one('price'), `${id}: price`).toMatch(/^\d+(\.\d+)? [A-Z]{3}$/);
  expect(one('condition')).toBe('new');
  expect(one('brand').trim().length, `${id}: brand`).toBeGreaterThan(0);
  const gtin = item.get('gtin');
  if (gtin) {
    expect(isValidGtin(gtin[0]!), `${id}: gtin`).toBe(true);
  } else if (!item.get('mpn')) {
    expect(one('identifier_exists')).toBe('no');
  }
  const weight = item.get('shipping_weight');
  if (weight) expect(weight[0]).toMatch(/^\d+(\.\d+)? (lb|oz|g|kg)$/);
}

describe('google merchant center feed', () => {
  it('lists sample variants with required attributes', async () => {
    const response = await fetchFeed();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(
      'application/xml; charset=utf-8',
    );
    const items = itemsOf(await response.text());
    expect(items.size).toBeGreaterThanOrEqual(20);
    for (const [id, item] of items) expectValidItem(id, item);
    // Sold on another site, so it has no page here where it can be bought.
    expect(items.has('wp-pennant')).toBe(false);
    // Hidden from listings.
    expect(items.has('woo-hoodie-with-pocket')).toBe(false);
  });

  it('describes woo-hoodie-red exactly', async () => {
    const hoodie = await productOf('woo-hoodie-red');
    const items = itemsOf(await (await fetchFeed()).text());
    const item = Object.fromEntries(items.get('woo-hoodie-red')!);
    expect(item).toMatchObject({
      id: ['woo-hoodie-red'],
      title: ['Hoodie - Red / No'],
      link: [`${BASE_URL}/products/${hoodie.product.handle}`],
      availability: ['in_stock'],
      price: ['42.00 USD'],
      condition: ['new'],
      brand: ['WooCommerce'],
      identifier_exists: ['no'],
      item_group_id: [hoodie.product.id],
      color: ['Red'],
      product_type: ['Clothing > Hoodies'],
      shipping_weight: ['1.5 lb'],
    });
    expect(item.image_link![0]).toMatch(/hoodie.*\.jpg$/);
    const group = [...items.values()].filter(
      (candidate) => candidate.get('item_group_id')?.[0] === hoodie.product.id,
    );
    expect(group.map((candidate) => candidate.get('id')![0]).sort()).toEqual([
      'woo-hoodie-blue',
      'woo-hoodie-blue-logo',
      'woo-hoodie-green',
      'woo-hoodie-red',
    ]);
  });

  it('answers a conditional request with 304', async () => {
    const first = await fetchFeed();
    const etag = first.headers.get('etag')!;
    const lastModified = first.headers.get('last-modified')!;
    expect(etag).toMatch(/^"[\w-]+"$/);
    expect(Number.isNaN(Date.parse(lastModified))).toBe(false);

    const byTag = await fetchFeed({ 'if-none-match': etag });
    expect(byTag.status).toBe(304);
    const byDate = await fetchFeed({ 'if-modified-since': lastModified });
    expect(byDate.status).toBe(304);
  });

  it('flips availability after a stock change', async () => {
    const sku = 'woo-beanie';
    const { id } = await productOf(sku);
    const before = await fetchFeed();
    const etag = before.headers.get('etag')!;
    expect(
      itemsOf(await before.text())
        .get(sku)!
        .get('availability'),
    ).toEqual(['in_stock']);

    const tracked = await stack.query(
      `mutation ($input: VariantUpdateInput!) {
        variantUpdate(input: $input) { userErrors { field message code } }
      }`,
      { input: { id, tracksInventory: true } },
      ADMIN,
    );
    expect(tracked.data!.variantUpdate.userErrors).toEqual([]);
    const setStock = (quantity: number) =>
      stack.query(
        `mutation ($input: StockSetInput!) {
          stockSet(input: $input) { userErrors { field message code } }
        }`,
        { input: { sku, quantity, reason: 'CORRECTION' } },
        ADMIN,
      );
    expect((await setStock(0)).data!.stockSet.userErrors).toEqual([]);

    const availabilityOf = async () =>
      itemsOf(await (await fetchFeed()).text())
        .get(sku)!
        .get('availability');
    const deadline = Date.now() + 20_000;
    while (
      (await availabilityOf())?.[0] !== 'out_of_stock' &&
      Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await availabilityOf()).toEqual(['out_of_stock']);
    const changed = await fetchFeed({ 'if-none-match': etag });
    expect(changed.status).toBe(200);

    expect((await setStock(4)).data!.stockSet.userErrors).toEqual([]);
    const restocked = Date.now() + 20_000;
    while (
      (await availabilityOf())?.[0] !== 'in_stock' &&
      Date.now() < restocked
    ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await availabilityOf()).toEqual(['in_stock']);
  });
});

describe('google feed document', () => {
  const product: FeedProduct = {
    id: 'p1',
    handle: 'tools & <more>',
    title: 'Saw "Deluxe" & Co',
    description: '<p>Sharp &amp; <b>safe</b></p><script>x()</script>',
    vendor: null,
    productType: 'STANDARD',
    categories: [],
    images: [{ url: 'https://img.example.com/a.jpg?x=1&y=2' }],
    options: [],
    variants: [
      {
        sku: 'saw-1',
        title: 'Default',
        selectedOptions: [],
        price: { amount: '9.50', currencyCode: 'EUR' },
        availableForSale: true,
        quantityAvailable: 0,
        inventoryPolicy: 'CONTINUE',
        weight: { value: '800', unit: 'GRAMS' },
        barcode: '4006381333931',
        image: null,
      },
    ],
  };

  it('escapes text and marks backorders', () => {
    const { xml, items } = buildGoogleFeed([product], {
      storefrontBaseUrl: BASE_URL,
      shopName: 'Shop & Co',
      defaultBrand: null,
      now: new Date('2026-01-01T00:00:00Z'),
    });
    expect(items).toBe(1);
    const item = itemsOf(xml).get('saw-1')!;
    expect(item.get('title')).toEqual(['Saw "Deluxe" & Co']);
    expect(item.get('description')).toEqual(['Sharp & safe']);
    expect(item.get('link')).toEqual([
      `${BASE_URL}/products/tools%20%26%20%3Cmore%3E`,
    ]);
    expect(item.get('image_link')).toEqual([
      'https://img.example.com/a.jpg?x=1&y=2',
    ]);
    expect(item.get('availability')).toEqual(['backorder']);
    expect(item.get('availability_date')).toEqual(['2026-01-15T00:00Z']);
    expect(item.get('gtin')).toEqual(['4006381333931']);
    expect(item.get('identifier_exists')).toBeUndefined();
    expect(item.get('shipping_weight')).toEqual(['800 g']);
    expect(item.get('item_group_id')).toBeUndefined();
  });

  it('escapes the five XML characters', () => {
    expect(escapeXml(`<a href="x">'&'</a>\u0001`)).toBe(
      '&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;',
    );
    expect(htmlToText('a&nbsp;b &#65;&#x42; <br/>c')).toBe('a b AB c');
  });
});
