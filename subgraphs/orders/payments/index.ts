import type { Config } from '../../../platform/config.js';
import { checkPaymentConfiguration } from '../../../platform/production-checks.js';
import type { PaymentProvider } from './provider.js';
import { SandboxPaymentProvider, type SandboxStorage } from './sandbox.js';
import { StripePaymentProvider } from './stripe.js';

export * from './provider.js';
export {
  MemorySandboxStorage,
  SANDBOX_TOKENS,
  SandboxPaymentProvider,
  type SandboxStorage,
} from './sandbox.js';
export { StripePaymentProvider } from './stripe.js';

export type PaymentConfig = Pick<
  Config,
  | 'PAYMENT_PROVIDER'
  | 'STRIPE_API_BASE_URL'
  | 'STRIPE_SECRET_KEY'
  | 'STRIPE_WEBHOOK_SECRET'
  | 'SANDBOX_WEBHOOK_SECRET'
  | 'ALLOW_SANDBOX_PAYMENTS'
  | 'APP_ENV'
  | 'NODE_ENV'
>;

/**
 * Creates the provider that PAYMENT_PROVIDER selects. `storage` keeps the
 * sandbox's payments; the Stripe provider keeps no state of its own.
 * Throws for settings production mode refuses, such as the sandbox
 * without ALLOW_SANDBOX_PAYMENTS=true (`checkPaymentConfiguration`).
 */
export function createPaymentProvider(
  config: PaymentConfig,
  storage: SandboxStorage,
): PaymentProvider {
  checkPaymentConfiguration(config);
  if (config.PAYMENT_PROVIDER === 'stripe') {
    if (!config.STRIPE_SECRET_KEY || !config.STRIPE_WEBHOOK_SECRET) {
      throw new Error(
        'PAYMENT_PROVIDER=stripe requires STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET',
      );
    }
    return new StripePaymentProvider({
      apiBaseUrl: config.STRIPE_API_BASE_URL,
      secretKey: config.STRIPE_SECRET_KEY,
      webhookSecret: config.STRIPE_WEBHOOK_SECRET,
    });
  }
  return new SandboxPaymentProvider(storage, {
    webhookSecret: config.SANDBOX_WEBHOOK_SECRET,
  });
}

/** True when PAYMENT_CAPTURE asks checkouts to capture at authorization. */
export function captureAtCheckout(
  config: Pick<Config, 'PAYMENT_CAPTURE'>,
): boolean {
  return config.PAYMENT_CAPTURE === 'automatic';
}
