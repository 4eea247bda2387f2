CREATE TABLE "event_consumer_positions" (
	"consumer" text NOT NULL,
	"source" text NOT NULL,
	"position" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "event_consumer_positions_consumer_source_pk" PRIMARY KEY("consumer","source")
);
--> statement-breakpoint
CREATE TABLE "listing_sync_tasks" (
	"listing_id" uuid PRIMARY KEY NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"publish_version" integer,
	"changes" text[] DEFAULT '{}' NOT NULL,
	"due_at" timestamp with time zone DEFAULT now() NOT NULL,
	"claimed_until" timestamp with time zone,
	"attempts" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sandbox_marketplace_records" (
	"key" text PRIMARY KEY NOT NULL,
	"value" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "listings" ADD COLUMN "sku" text;--> statement-breakpoint
ALTER TABLE "listings" ADD COLUMN "price_override_amount" bigint;--> statement-breakpoint
ALTER TABLE "listings" ADD COLUMN "price_override_currency" text;--> statement-breakpoint
ALTER TABLE "marketplace_connections" ADD COLUMN "untracked_quantity" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "marketplace_connections" ADD COLUMN "credentials_encrypted" text;--> statement-breakpoint
ALTER TABLE "marketplace_connections" ADD COLUMN "credentials_hint" text;--> statement-breakpoint
ALTER TABLE "marketplace_connections" ADD COLUMN "settings" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "marketplace_connections" ADD COLUMN "price_adjustment_basis_points" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "marketplace_connections" ADD COLUMN "price_fixed_adjustment" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "marketplace_connections" ADD COLUMN "last_tested_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "marketplace_connections" ADD COLUMN "last_test_ok" boolean;--> statement-breakpoint
ALTER TABLE "marketplace_connections" ADD COLUMN "last_test_message" text;--> statement-breakpoint
ALTER TABLE "listing_sync_tasks" ADD CONSTRAINT "listing_sync_tasks_listing_id_listings_id_fk" FOREIGN KEY ("listing_id") REFERENCES "public"."listings"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "listing_sync_tasks_due_idx" ON "listing_sync_tasks" USING btree ("due_at");--> statement-breakpoint
ALTER TABLE "listings" ADD CONSTRAINT "listings_price_override_has_currency" CHECK (("listings"."price_override_amount" is null) = ("listings"."price_override_currency" is null));--> statement-breakpoint
ALTER TABLE "listings" ADD CONSTRAINT "listings_price_override_not_negative" CHECK ("listings"."price_override_amount" >= 0);--> statement-breakpoint
ALTER TABLE "marketplace_connections" ADD CONSTRAINT "marketplace_connections_untracked_quantity_not_negative" CHECK ("marketplace_connections"."untracked_quantity" >= 0);