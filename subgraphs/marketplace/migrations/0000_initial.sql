CREATE TYPE "public"."listing_status" AS ENUM('DRAFT', 'PENDING', 'ACTIVE', 'ERROR', 'ENDED');--> statement-breakpoint
CREATE TYPE "public"."marketplace_connection_status" AS ENUM('ACTIVE', 'PAUSED', 'DISCONNECTED');--> statement-breakpoint
CREATE TYPE "public"."marketplace_kind" AS ENUM('SANDBOX', 'EBAY');--> statement-breakpoint
CREATE TABLE "listings" (
	"id" uuid PRIMARY KEY NOT NULL,
	"connection_id" uuid NOT NULL,
	"product_id" uuid NOT NULL,
	"variant_id" uuid,
	"external_id" text,
	"price_amount" bigint,
	"currency_code" text,
	"quantity" integer DEFAULT 0 NOT NULL,
	"status" "listing_status" DEFAULT 'DRAFT' NOT NULL,
	"last_synced_at" timestamp with time zone,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "listings_connection_variant_key" UNIQUE("connection_id","variant_id"),
	CONSTRAINT "listings_connection_external_key" UNIQUE("connection_id","external_id"),
	CONSTRAINT "listings_quantity_not_negative" CHECK ("listings"."quantity" >= 0),
	CONSTRAINT "listings_price_has_currency" CHECK (("listings"."price_amount" is null) = ("listings"."currency_code" is null)),
	CONSTRAINT "listings_price_not_negative" CHECK ("listings"."price_amount" >= 0)
);
--> statement-breakpoint
CREATE TABLE "marketplace_connections" (
	"id" uuid PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"kind" "marketplace_kind" NOT NULL,
	"status" "marketplace_connection_status" DEFAULT 'ACTIVE' NOT NULL,
	"safety_stock" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "marketplace_connections_safety_stock_not_negative" CHECK ("marketplace_connections"."safety_stock" >= 0)
);
--> statement-breakpoint
CREATE TABLE "outbox_events" (
	"sequence" bigserial PRIMARY KEY NOT NULL,
	"id" uuid NOT NULL,
	"type" text NOT NULL,
	"aggregate_id" text NOT NULL,
	"payload" jsonb NOT NULL,
	"transaction_id" "xid8" DEFAULT pg_current_xact_id() NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "outbox_events_id_unique" UNIQUE("id")
);
--> statement-breakpoint
ALTER TABLE "listings" ADD CONSTRAINT "listings_connection_id_marketplace_connections_id_fk" FOREIGN KEY ("connection_id") REFERENCES "public"."marketplace_connections"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "listings_product_idx" ON "listings" USING btree ("product_id","created_at");--> statement-breakpoint
CREATE INDEX "listings_variant_idx" ON "listings" USING btree ("variant_id","created_at");--> statement-breakpoint
CREATE INDEX "outbox_events_stream_idx" ON "outbox_events" USING btree ("transaction_id","sequence");