import { parseDecimalToMinorUnits } from '../../../platform/money.js';
import {
  UserErrorCode,
  userError,
  type UserError,
} from '../../../platform/errors.js';
import type {
  ImageInput,
  MoneyInput,
  ProductOptionInput,
  SelectedOptionInput,
  WeightInput,
} from '../generated/resolvers.js';
import { isValidHandle } from './catalog-values.js';

export const MAX_TITLE_LENGTH = 255;
export const MAX_SKU_LENGTH = 100;
/** Maximum description length, in characters. */
export const MAX_DESCRIPTION_LENGTH = 512 * 1024;
/** Most variants a product can have; one insert binds ~25 values per variant. */
export const MAX_VARIANTS = 250;
/** Limits of list fields: how many entries, and characters per entry. */
export const LIST_LIMITS = {
  categories: { count: 50, length: 255 },
  tags: { count: 250, length: 255 },
  images: { count: 250, length: 2048 },
  options: { count: 10, length: 255 },
  optionValues: { count: 250, length: 255 },
} as const;

/** Collects userErrors while an input is checked field by field. */
export class InputChecker {
  readonly errors: UserError[] = [];

  fail(field: string[], message: string, code = UserErrorCode.Invalid): void {
    this.errors.push(userError(field, message, code));
  }

  get ok(): boolean {
    return this.errors.length === 0;
  }

  title(field: string[], value: string): string {
    const title = value.trim();
    if (!title) this.fail(field, 'Title is required.', UserErrorCode.Required);
    else if (/\p{Cc}/u.test(title)) {
      this.fail(field, 'Title contains a control character; remove it.');
    } else if (title.length > MAX_TITLE_LENGTH) {
      this.fail(
        field,
        `Title has ${title.length} characters; use at most ${MAX_TITLE_LENGTH}.`,
      );
    }
    return title;
  }

  /** Checks a list of strings against its count and length limits. */
  list(
    field: string[],
    values: readonly string[],
    limits: { count: number; length: number },
  ): void {
    if (values.length > limits.count) {
      this.fail(
        field,
        `Too many entries: ${values.length}; use at most ${limits.count}.`,
      );
      return;
    }
    values.forEach((value, index) => {
      if (value.length > limits.length) {
        this.fail(
          [...field, String(index)],
          `Entry has ${value.length} characters; use at most ${limits.length}.`,
        );
      }
    });
  }

  description(field: string[], value: string): string {
    if (value.length > MAX_DESCRIPTION_LENGTH) {
      this.fail(
        field,
        `Description has ${value.length} characters; use at most ${MAX_DESCRIPTION_LENGTH}.`,
      );
    }
    return value;
  }

  handle(field: string[], value: string): string {
    if (!isValidHandle(value)) {
      this.fail(
        field,
        `Invalid handle "${value}": use at most 100 lower-case letters, digits and single hyphens, such as "blue-hoodie".`,
      );
    }
    return value;
  }

  sku(field: string[], value: string): string {
    const sku = value.trim();
    if (!sku) this.fail(field, 'SKU is required.', UserErrorCode.Required);
    else if (sku.length > MAX_SKU_LENGTH || /[\s\p{C}]/u.test(sku)) {
      // \p{C} covers control and invisible format characters, such as a
      // zero-width space, that would make two SKUs look the same.
      this.fail(
        field,
        `Invalid SKU "${value}": use at most ${MAX_SKU_LENGTH} characters without spaces or control characters.`,
      );
    }
    return sku;
  }

  /** Returns minor units in the shop currency, or undefined after an error. */
  money(
    field: string[],
    value: MoneyInput,
    shopCurrency: string,
  ): number | undefined {
    const currency = value.currencyCode ?? shopCurrency;
    if (currency !== shopCurrency) {
      this.fail(
        [...field, 'currencyCode'],
        `Prices are in the shop currency ${shopCurrency}; got ${currency}.`,
      );
      return undefined;
    }
    const parsed = parseDecimalToMinorUnits(value.amount, currency);
    if ('error' in parsed) {
      this.fail([...field, 'amount'], `Invalid amount: ${parsed.error}.`);
      return undefined;
    }
    if (parsed.minor < 0) {
      this.fail(
        [...field, 'amount'],
        `Invalid amount "${value.amount}": it must not be negative.`,
      );
      return undefined;
    }
    return parsed.minor;
  }

  weight(field: string[], value: WeightInput): string {
    if (!/^\d{1,8}(\.\d{1,4})?$/.test(value.value.trim())) {
      this.fail(
        [...field, 'value'],
        `Invalid weight "${value.value}": use a non-negative decimal with at most 4 decimal places, such as "1.5".`,
      );
    }
    return value.value.trim();
  }

  url(field: string[], value: string): string {
    let valid = false;
    try {
      const parsed = new URL(value);
      valid = parsed.protocol === 'https:' || parsed.protocol === 'http:';
    } catch {
      valid = false;
    }
    if (!valid)
      this.fail(field, `Invalid URL "${value}": use an http or https URL.`);
    return value;
  }

  options(
    field: string[],
    options: ProductOptionInput[],
  ): ProductOptionInput[] {
    this.list(
      field,
      options.map((option) => option.name),
      LIST_LIMITS.options,
    );
    const names = new Set<string>();
    options.forEach((option, index) => {
      this.list(
        [...field, String(index), 'values'],
        option.values,
        LIST_LIMITS.optionValues,
      );
      const name = option.name.trim();
      if (!name) {
        this.fail(
          [...field, String(index), 'name'],
          'Option name is required.',
          UserErrorCode.Required,
        );
      } else if (names.has(name.toLowerCase())) {
        this.fail(
          [...field, String(index), 'name'],
          `Option "${name}" appears twice.`,
        );
      }
      names.add(name.toLowerCase());
    });
    return options.map((option) => ({
      name: option.name.trim(),
      // Repeated values collapse to one, keeping the first one's place.
      values: [
        ...new Set(option.values.map((value) => value.trim()).filter(Boolean)),
      ],
    }));
  }

  /** Checks that each selected option names an option of the product and one of its values. */
  selectedOptions(
    field: string[],
    selected: SelectedOptionInput[],
    productOptions: ProductOptionInput[],
  ): SelectedOptionInput[] {
    const seen = new Set<string>();
    selected.forEach((option, index) => {
      if (seen.has(option.name)) {
        this.fail(
          [...field, String(index), 'name'],
          `Option "${option.name}" is selected twice; select each option once.`,
        );
      }
      seen.add(option.name);
      const productOption = productOptions.find(
        (candidate) => candidate.name === option.name,
      );
      if (!productOption) {
        this.fail(
          [...field, String(index), 'name'],
          `Option "${option.name}" is not an option of this product; add it to the product's options first.`,
        );
      } else if (
        option.value != null &&
        !productOption.values.includes(option.value)
      ) {
        this.fail(
          [...field, String(index), 'value'],
          `Value "${option.value}" is not one of ${productOption.name}'s values (${productOption.values.join(', ')}).`,
        );
      }
    });
    return selected.map((option) => ({
      name: option.name,
      value: option.value ?? null,
    }));
  }

  images(
    field: string[],
    images: ImageInput[],
  ): { url: string; altText: string | null }[] {
    this.list(
      field,
      images.map((image) => image.url),
      LIST_LIMITS.images,
    );
    return images.map((image, index) => ({
      url: this.url([...field, String(index), 'url'], image.url),
      altText: image.altText ?? null,
    }));
  }
}
