CREATE TABLE "customer_sign_in_attempts" (
	"email_hash" text PRIMARY KEY NOT NULL,
	"attempts" integer NOT NULL,
	"window_started_at" timestamp with time zone NOT NULL,
	"locked_until" timestamp with time zone,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "customer_sign_in_attempts_updated_at_idx" ON "customer_sign_in_attempts" USING btree ("updated_at");