ALTER TABLE "webhook_endpoints" ADD COLUMN "subscription_query" text;--> statement-breakpoint
ALTER TABLE "webhook_endpoints" ADD COLUMN "subscription_variables" jsonb;--> statement-breakpoint
ALTER TABLE "webhook_endpoints" ADD COLUMN "subscription_caller" jsonb;