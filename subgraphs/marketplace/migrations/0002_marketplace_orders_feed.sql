CREATE TABLE "marketplace_fulfillments" (
	"shipment_id" uuid PRIMARY KEY NOT NULL,
	"marketplace_order_id" uuid NOT NULL,
	"carrier" text NOT NULL,
	"tracking_number" text NOT NULL,
	"lines" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"shipped_at" timestamp with time zone NOT NULL,
	"status" text DEFAULT 'PENDING' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_error" text,
	"pushed_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "marketplace_fulfillments_attempts_not_negative" CHECK ("marketplace_fulfillments"."attempts" >= 0)
);
--> statement-breakpoint
CREATE TABLE "marketplace_order_polls" (
	"connection_id" uuid PRIMARY KEY NOT NULL,
	"cursor" text,
	"next_poll_at" timestamp with time zone DEFAULT now() NOT NULL,
	"failures" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"last_polled_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "marketplace_orders" (
	"id" uuid PRIMARY KEY NOT NULL,
	"connection_id" uuid NOT NULL,
	"external_order_id" text NOT NULL,
	"status" text DEFAULT 'PENDING' NOT NULL,
	"order" jsonb NOT NULL,
	"order_id" uuid,
	"order_number" integer,
	"needs_attention" boolean DEFAULT false NOT NULL,
	"lines" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_error" text,
	"imported_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "marketplace_orders_connection_external_key" UNIQUE("connection_id","external_order_id"),
	CONSTRAINT "marketplace_orders_order_key" UNIQUE("order_id")
);
--> statement-breakpoint
CREATE TABLE "feed_states" (
	"name" text PRIMARY KEY NOT NULL,
	"generation" bigint DEFAULT 0 NOT NULL,
	"changed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "marketplace_fulfillments" ADD CONSTRAINT "marketplace_fulfillments_marketplace_order_id_marketplace_orders_id_fk" FOREIGN KEY ("marketplace_order_id") REFERENCES "public"."marketplace_orders"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "marketplace_order_polls" ADD CONSTRAINT "marketplace_order_polls_connection_id_marketplace_connections_id_fk" FOREIGN KEY ("connection_id") REFERENCES "public"."marketplace_connections"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "marketplace_orders" ADD CONSTRAINT "marketplace_orders_connection_id_marketplace_connections_id_fk" FOREIGN KEY ("connection_id") REFERENCES "public"."marketplace_connections"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "marketplace_fulfillments_order_idx" ON "marketplace_fulfillments" USING btree ("marketplace_order_id");--> statement-breakpoint
CREATE INDEX "marketplace_fulfillments_pending_idx" ON "marketplace_fulfillments" USING btree ("next_attempt_at") WHERE "marketplace_fulfillments"."status" = 'PENDING';--> statement-breakpoint
CREATE INDEX "marketplace_orders_pending_idx" ON "marketplace_orders" USING btree ("next_attempt_at") WHERE "marketplace_orders"."status" = 'PENDING';