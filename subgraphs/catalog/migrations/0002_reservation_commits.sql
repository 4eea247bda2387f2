CREATE TABLE "stock_reservation_commit_lines" (
	"commit_key" text NOT NULL,
	"variant_id" uuid NOT NULL,
	"location_id" uuid NOT NULL,
	"sku" text NOT NULL,
	"quantity" integer NOT NULL,
	CONSTRAINT "stock_reservation_commit_lines_commit_key_variant_id_location_id_pk" PRIMARY KEY("commit_key","variant_id","location_id"),
	CONSTRAINT "stock_reservation_commit_lines_quantity_positive" CHECK ("stock_reservation_commit_lines"."quantity" > 0)
);
--> statement-breakpoint
CREATE TABLE "stock_reservation_commits" (
	"commit_key" text PRIMARY KEY NOT NULL,
	"reservation_id" uuid NOT NULL,
	"order_id" uuid NOT NULL,
	"committed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"uncommitted_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "stock_reservation_commit_lines" ADD CONSTRAINT "stock_reservation_commit_lines_commit_key_stock_reservation_commits_commit_key_fk" FOREIGN KEY ("commit_key") REFERENCES "public"."stock_reservation_commits"("commit_key") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stock_reservation_commit_lines" ADD CONSTRAINT "stock_reservation_commit_lines_variant_id_variants_id_fk" FOREIGN KEY ("variant_id") REFERENCES "public"."variants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stock_reservation_commit_lines" ADD CONSTRAINT "stock_reservation_commit_lines_location_id_locations_id_fk" FOREIGN KEY ("location_id") REFERENCES "public"."locations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stock_reservation_commits" ADD CONSTRAINT "stock_reservation_commits_reservation_id_stock_reservations_id_fk" FOREIGN KEY ("reservation_id") REFERENCES "public"."stock_reservations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "stock_reservation_commits_order_idx" ON "stock_reservation_commits" USING btree ("order_id");