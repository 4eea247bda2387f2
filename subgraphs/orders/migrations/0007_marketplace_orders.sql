ALTER TYPE "public"."payment_method_kind" ADD VALUE 'MARKETPLACE';--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "channel_id" text;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "external_order_id" text;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "needs_attention" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "attention_reason" text;--> statement-breakpoint
CREATE UNIQUE INDEX "orders_channel_external_order_idx" ON "orders" USING btree ("channel_id","external_order_id") WHERE "orders"."external_order_id" is not null;--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_external_order_has_channel" CHECK (("orders"."channel_id" is null) = ("orders"."external_order_id" is null));--> statement-breakpoint
-- Money a marketplace collected for imported orders and owes the shop
-- until its payout (postMarketplaceSale in subgraphs/orders/ledger/posting.ts).
INSERT INTO "ledger_accounts" ("code", "name", "type") VALUES
  ('1100', 'Marketplace receivable', 'ASSET')
ON CONFLICT ("code") DO NOTHING;
