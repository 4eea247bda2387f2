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
import { isValidHandle } from './handles.js';

export const MAX_TITLE_LENGTH = 255;
export const MAX_SKU_LENGTH = 100;

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
    else if (title.length > MAX_TITLE_LENGTH) {
      this.fail(
        field,
        `Title has ${title.length} characters; use at most ${MAX_TITLE_LENGTH}.`,
      );
    }
    return title;
  }

  handle(field: string[], value: string): string {
    if (!isValidHandle(value)) {
      this.fail(
        field,
        `Invalid handle "${value}": use lower-case letters, digits and single hyphens, such as "blue-hoodie".`,
      );
    }
    return value;
  }

  sku(field: string[], value: string): string {
    const sku = value.trim();
    if (!sku) this.fail(field, 'SKU is required.', UserErrorCode.Required);
    else if (sku.length > MAX_SKU_LENGTH || /\s/.test(sku)) {
      this.fail(
        field,
        `Invalid SKU "${value}": use at most ${MAX_SKU_LENGTH} characters without spaces.`,
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
    const names = new Set<string>();
    options.forEach((option, index) => {
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
      values: option.values.map((value) => value.trim()).filter(Boolean),
    }));
  }

  /** Checks that each selected option names an option of the product and one of its values. */
  selectedOptions(
    field: string[],
    selected: SelectedOptionInput[],
    productOptions: ProductOptionInput[],
  ): SelectedOptionInput[] {
    selected.forEach((option, index) => {
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
    return images.map((image, index) => ({
      url: this.url([...field, String(index), 'url'], image.url),
      altText: image.altText ?? null,
    }));
  }
}
