CREATE TABLE "safelisted_operations" (
	"id" uuid PRIMARY KEY NOT NULL,
	"partner_key_id" uuid NOT NULL,
	"hash" text NOT NULL,
	"document" text NOT NULL,
	"operation_name" text,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "safelisted_operations_key_hash_unique" UNIQUE("partner_key_id","hash")
);
--> statement-breakpoint
ALTER TABLE "partner_keys" ADD COLUMN "safelist_mode" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "safelisted_operations" ADD CONSTRAINT "safelisted_operations_partner_key_id_partner_keys_id_fk" FOREIGN KEY ("partner_key_id") REFERENCES "public"."partner_keys"("id") ON DELETE cascade ON UPDATE no action;