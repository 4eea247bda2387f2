ALTER TABLE "shipments" ADD COLUMN "customer_id" uuid;--> statement-breakpoint
CREATE INDEX "shipments_customer_idx" ON "shipments" USING btree ("customer_id");