import { describe, expect, it } from 'vitest';
import {
  normaliseCategoryPath,
  slugify,
  variantTitle,
} from '../subgraphs/catalog/services/catalog-values.js';
import {
  ImportFileError,
  parseCsv,
} from '../subgraphs/catalog/import/csv-table.js';
import {
  formatExactDecimal,
  formatStoredDecimal,
  multiplyDecimal,
  parseExactDecimal,
  shiftDecimal,
} from '../subgraphs/catalog/import/decimal.js';
import { detectFormat } from '../subgraphs/catalog/import/detect-format.js';
import { RowReader } from '../subgraphs/catalog/import/row-reader.js';
import { readShopifyDrafts } from '../subgraphs/catalog/import/shopify.js';
import { readWooCommerceDrafts } from '../subgraphs/catalog/import/woocommerce.js';
import { readWooPrice } from '../subgraphs/catalog/import/woocommerce-fields.js';
import {
  decodeWooDescription,
  findWooMeasureColumns,
  splitWooList,
  unescapeWooCell,
} from '../subgraphs/catalog/import/woocommerce-cells.js';

function decimal(text: string) {
  const value = parseExactDecimal(text);
  if (value === null) throw new Error(`"${text}" did not parse`);
  return value;
}

describe('exact decimals', () => {
  it.each([
    ['.5', '0.5000'],
    ['1.5', '1.5000'],
    ['24', '24.0000'],
    ['0.00005', '0.0001'],
    ['0.00004', '0.0000'],
    ['-1.23456', '-1.2346'],
  ])('formats %s as %s', (text, expected) => {
    expect(formatExactDecimal(decimal(text), 4)).toBe(expected);
  });

  it('rejects other notations', () => {
    for (const text of ['', '.', '1e3', '1,5', 'abc', '1.2.3', ' ']) {
      expect(parseExactDecimal(text)).toBeNull();
    }
  });

  it('converts units without rounding', () => {
    expect(formatExactDecimal(shiftDecimal(decimal('1.25'), 2), 4)).toBe(
      '125.0000',
    );
    expect(formatExactDecimal(shiftDecimal(decimal('12.345'), -1), 4)).toBe(
      '1.2345',
    );
    expect(formatExactDecimal(multiplyDecimal(decimal('0.5'), 36n), 4)).toBe(
      '18.0000',
    );
  });

  it('rejects values the column cannot hold', () => {
    expect(formatStoredDecimal(decimal('99999999.9999'))).toBe('99999999.9999');
    expect(formatStoredDecimal(decimal('100000000'))).toBeNull();
  });
});

describe('catalog values', () => {
  it.each([
    ['Hoodie', 'hoodie'],
    ['Awesome V-Neck T-Shirt', 'awesome-v-neck-t-shirt'],
    ['Crème Brûlée  Set!', 'creme-brulee-set'],
    ['Field Guide (eBook)', 'field-guide-ebook'],
    ['帽子 2024', '帽子-2024'],
    ['***', 'product'],
    ['snake_case name', 'snake-case-name'],
  ])('slugifies %s', (text, expected) => {
    expect(slugify(text)).toBe(expected);
  });

  it('normalises category paths', () => {
    expect(normaliseCategoryPath(' Clothing >Hoodies ')).toBe(
      'Clothing > Hoodies',
    );
    expect(normaliseCategoryPath('A >> B')).toBe('A > B');
    expect(normaliseCategoryPath('')).toBe('');
  });

  it('titles variants by option values', () => {
    expect(
      variantTitle(
        [
          { name: 'Color', value: 'Red' },
          { name: 'Size', value: null },
        ],
        'Hoodie',
      ),
    ).toBe('Red / Any Size');
    expect(variantTitle([], 'Hoodie')).toBe('Hoodie');
  });
});

describe('WooCommerce cells', () => {
  it('splits lists with escaped commas', () => {
    expect(splitWooList('Clothing > Hoodies, Music')).toEqual([
      'Clothing > Hoodies',
      'Music',
    ]);
    expect(splitWooList('Red\\, dark, Blue,,')).toEqual(['Red, dark', 'Blue']);
    expect(splitWooList('')).toEqual([]);
  });

  it('undoes formula escaping', () => {
    expect(unescapeWooCell("'-1")).toBe('-1');
    expect(unescapeWooCell("'=SUM(A1)")).toBe('=SUM(A1)');
    expect(unescapeWooCell("'quoted'")).toBe("'quoted'");
    expect(unescapeWooCell('-1')).toBe('-1');
  });

  it('restores description line breaks', () => {
    expect(decodeWooDescription('One\\nTwo')).toBe('One\nTwo');
    expect(decodeWooDescription('Path C:\\\\new')).toBe('Path C:\\new');
    expect(decodeWooDescription('<p>As is</p>')).toBe('<p>As is</p>');
  });

  it('reads units from the header', () => {
    const columns = findWooMeasureColumns([
      'Weight (oz)',
      'Length (m)',
      'Width (m)',
    ]);
    expect(columns.weight?.unit?.unit).toBe('OUNCES');
    expect(columns.length?.unit?.unit).toBe('CENTIMETERS');
    expect(columns.height).toBeNull();
    expect(findWooMeasureColumns(['Weight (st)']).weight?.unit).toBeNull();
  });
});

describe('CSV lines', () => {
  function lines(text: string) {
    return parseCsv(Buffer.from(text)).rows.map((row) => row.line);
  }

  it('counts quoted line breaks', () => {
    expect(lines('a,b\n1,"x\ny"\n2,z\n')).toEqual([2, 4]);
    expect(lines('a,b\r\n1,"x\r\ny\r\nz"\r\n2,z')).toEqual([2, 5]);
    expect(lines('a,b\r1,"x\ry"\r2,z\r')).toEqual([2, 4]);
  });

  it('skips blank and empty rows', () => {
    expect(lines('\ufeffa,b\n\n1,2\n,\n\n3,4\n')).toEqual([3, 6]);
  });

  it('flags rows with a wrong field count', () => {
    const table = parseCsv(Buffer.from('a,b\n1,2,3\n4,5\n'));
    expect(table.rows[0]!.fieldCountError).toBe(
      'The row has 3 fields but the header has 2.',
    );
    expect(table.rows[1]!.fieldCountError).toBeNull();
  });

  it('rejects an empty file', () => {
    expect(() => parseCsv(Buffer.from(''))).toThrow(ImportFileError);
  });
});

describe('format detection', () => {
  it('tells the two formats apart', () => {
    expect(detectFormat(['ID', 'Type', 'SKU', 'Name'])).toBe('woocommerce');
    expect(detectFormat(['Handle', 'Title', 'Variant SKU'])).toBe('shopify');
  });

  it('names the expected columns', () => {
    expect(() => detectFormat(['Handle', 'Name'])).toThrow(
      'Unknown CSV header. Expected a WooCommerce product export (columns Type, SKU, Name) ' +
        'or a Shopify product CSV (columns Handle, Title); the header has "Handle", "Name".',
    );
  });
});

/** Builds CSV text from a header and rows of cells keyed by column. */
function csv(header: string[], rows: Array<Record<string, string>>): Buffer {
  const quote = (value: string) =>
    /[",\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
  const lines = [header.map(quote).join(',')];
  for (const row of rows) {
    lines.push(header.map((column) => quote(row[column] ?? '')).join(','));
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}

describe('WooCommerce sale dates', () => {
  const header = [
    'Sale price',
    'Regular price',
    'Date sale price starts',
    'Date sale price ends',
  ];

  it.each([
    ['', '', 1800, 2000],
    ['2025-06-01', '2025-06-15', 1800, 2000],
    ['2025-06-16', '', 2000, null],
    ['', '2025-06-14 23:59:59', 2000, null],
  ])('starts %s ends %s', (starts, ends, price, compareAt) => {
    const table = parseCsv(
      csv(header, [
        {
          'Sale price': '18',
          'Regular price': '20',
          'Date sale price starts': starts,
          'Date sale price ends': ends,
        },
      ]),
    );
    const reader = new RowReader(table.rows[0]!);
    expect(readWooPrice(reader, 'USD', '2025-06-15')).toEqual({
      priceAmount: price,
      compareAtAmount: compareAt,
    });
    expect(reader.errors).toEqual([]);
  });
});

describe('WooCommerce drafts', () => {
  const header = [
    'ID',
    'Type',
    'SKU',
    'Name',
    'Published',
    'Stock',
    'Regular price',
    'Parent',
    'Attribute 1 name',
    'Attribute 1 value(s)',
    'Attribute 2 name',
    'Attribute 2 value(s)',
  ];
  const parent = {
    ID: '1',
    Type: 'variable',
    SKU: 'tee',
    Name: 'Tee',
    'Attribute 1 name': 'Color',
    'Attribute 1 value(s)': 'Red, Blue',
    'Attribute 2 name': 'Material',
    'Attribute 2 value(s)': 'Cotton',
  };

  function read(rows: Array<Record<string, string>>) {
    return readWooCommerceDrafts(parseCsv(csv(header, rows)), {
      currency: 'USD',
      today: '2025-06-15',
    });
  }

  it('keeps only attributes variations use', () => {
    const result = read([
      parent,
      {
        Type: 'variation',
        SKU: 'tee-red',
        Parent: 'tee',
        'Regular price': '10',
        'Attribute 1 name': 'color',
        'Attribute 1 value(s)': 'red',
      },
    ]);

    expect(result.errors).toEqual([]);
    expect(result.drafts[0]!.fields.options).toEqual([
      { name: 'Color', values: ['Red', 'Blue'] },
    ]);
    expect(result.drafts[0]!.variants[0]!.fields.selectedOptions).toEqual([
      { name: 'Color', value: 'Red' },
    ]);
  });

  it('adds an unlisted value with a warning', () => {
    const result = read([
      parent,
      {
        Type: 'variation',
        SKU: 'tee-green',
        Parent: 'id:1',
        'Attribute 1 name': 'Color',
        'Attribute 1 value(s)': 'Green',
      },
    ]);

    expect(result.drafts[0]!.fields.options[0]!.values).toEqual([
      'Red',
      'Blue',
      'Green',
    ]);
    expect(result.warnings).toEqual([
      {
        line: 3,
        message:
          'Attribute "Color": "Green" is not among the parent\'s values, so it was added to them.',
      },
    ]);
  });

  it('rejects an attribute the parent lacks', () => {
    const result = read([
      parent,
      {
        Type: 'variation',
        SKU: 'tee-xl',
        Parent: 'tee',
        'Attribute 1 name': 'Size',
        'Attribute 1 value(s)': 'XL',
      },
    ]);

    expect(result.drafts).toEqual([]);
    expect(result.errors).toEqual([
      {
        line: 3,
        message:
          'Attribute "Size" is not an attribute of the parent product; ' +
          'add it to the parent\'s attribute columns. Product "tee" on line 2 was not imported.',
      },
    ]);
  });

  it('reads disabled and parent-stock variations', () => {
    const result = read([
      parent,
      {
        Type: 'variation',
        SKU: 'tee-blue',
        Parent: 'tee',
        Published: '0',
        Stock: 'parent',
        'Attribute 1 name': 'Color',
        'Attribute 1 value(s)': 'Blue',
      },
    ]);

    const variant = result.drafts[0]!.variants[0]!;
    expect(variant.fields.purchasable).toBe(false);
    expect(variant.fields.tracksInventory).toBe(false);
    expect(variant.onHand).toBeNull();
    expect(result.warnings.map((warning) => warning.line)).toEqual([3]);
  });

  it('rejects a repeated SKU', () => {
    const result = read([
      {
        ID: '5',
        Type: 'simple',
        SKU: 'mug',
        Name: 'Mug',
        'Regular price': '8',
      },
      {
        ID: '6',
        Type: 'simple',
        SKU: 'mug',
        Name: 'Mug copy',
        'Regular price': '9',
      },
    ]);

    expect(result.drafts).toHaveLength(1);
    expect(result.errors).toEqual([
      {
        line: 3,
        message: 'SKU "mug" is also on line 2; each product needs its own.',
      },
    ]);
  });

  it('rejects an unsupported type', () => {
    const result = read([{ ID: '7', Type: 'bundle', SKU: 'kit', Name: 'Kit' }]);

    expect(result.errors).toEqual([
      {
        line: 2,
        message:
          'Type: "bundle" is not supported; expected one of simple, variable, grouped, external, variation.',
      },
    ]);
  });
});

describe('Shopify drafts', () => {
  const header = [
    'Handle',
    'Title',
    'Published',
    'Status',
    'Option1 Name',
    'Option1 Value',
    'Variant SKU',
    'Variant Price',
  ];

  function read(rows: Array<Record<string, string>>) {
    return readShopifyDrafts(parseCsv(csv(header, rows)), { currency: 'USD' });
  }

  it('unpublished active is a draft', () => {
    const result = read([
      {
        Handle: 'cap',
        Title: 'Cap',
        Published: 'FALSE',
        Status: 'active',
        'Variant SKU': 'CAP',
        'Variant Price': '5',
      },
    ]);

    expect(result.drafts[0]!.fields.status).toBe('DRAFT');
  });

  it('gives a SKU-less variant a SKU', () => {
    const result = read([
      {
        Handle: 'cap',
        Title: 'Cap',
        Status: 'active',
        'Option1 Name': 'Color',
        'Option1 Value': 'Dark Red',
        'Variant Price': '5',
      },
    ]);

    expect(result.drafts[0]!.variants[0]!.fields.sku).toBe('cap-dark-red');
    expect(result.warnings).toEqual([
      {
        line: 2,
        message:
          'Variant SKU is empty, so the variant was given the SKU "cap-dark-red".',
      },
    ]);
  });

  it('requires a value for each option', () => {
    const result = read([
      {
        Handle: 'cap',
        Title: 'Cap',
        'Option1 Name': 'Color',
        'Option1 Value': 'Red',
        'Variant SKU': 'CAP-R',
      },
      { Handle: 'cap', 'Variant SKU': 'CAP-X', 'Variant Price': '5' },
    ]);

    expect(result.drafts).toEqual([]);
    expect(result.errors).toEqual([
      {
        line: 3,
        message:
          'Option1 Value is missing; every variant needs a value for "Color". ' +
          'Product "cap" on line 2 was not imported.',
      },
    ]);
  });

  it('reports a row without handle', () => {
    const result = read([{ Title: 'Orphan', 'Variant SKU': 'ORPHAN' }]);

    expect(result.errors).toEqual([
      {
        line: 2,
        message:
          'Handle is missing; every row names the handle of its product.',
      },
    ]);
  });
});
