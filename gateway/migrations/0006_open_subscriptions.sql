CREATE TABLE "open_subscriptions" (
	"id" uuid PRIMARY KEY NOT NULL,
	"caller_key" text NOT NULL,
	"replica_id" uuid NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "open_subscriptions_caller_idx" ON "open_subscriptions" USING btree ("caller_key");--> statement-breakpoint
CREATE INDEX "open_subscriptions_replica_idx" ON "open_subscriptions" USING btree ("replica_id");