CREATE TYPE "public"."payment_attempt_status" AS ENUM('PENDING', 'UNKNOWN', 'ANSWERED', 'DECLINED', 'RECORDED', 'UNDOING', 'VOIDED', 'REFUNDED');--> statement-breakpoint
CREATE TABLE "payment_attempts" (
	"id" uuid PRIMARY KEY NOT NULL,
	"order_id" uuid NOT NULL,
	"checkout_id" uuid NOT NULL,
	"provider" text NOT NULL,
	"idempotency_key" text NOT NULL,
	"request_key" text NOT NULL,
	"amount" bigint NOT NULL,
	"currency_code" text NOT NULL,
	"capture" boolean NOT NULL,
	"payment_token" text NOT NULL,
	"metadata" jsonb NOT NULL,
	"status" "payment_attempt_status" NOT NULL,
	"provider_payment_id" text,
	"returned_amount" bigint DEFAULT 0 NOT NULL,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "payment_attempts_amount_positive" CHECK ("payment_attempts"."amount" > 0)
);
--> statement-breakpoint
ALTER TABLE "idempotency_keys" ADD COLUMN "owner_token" text;--> statement-breakpoint
CREATE UNIQUE INDEX "payment_attempts_provider_key_idx" ON "payment_attempts" USING btree ("provider","idempotency_key");--> statement-breakpoint
CREATE INDEX "payment_attempts_order_idx" ON "payment_attempts" USING btree ("order_id");--> statement-breakpoint
CREATE INDEX "payment_attempts_status_idx" ON "payment_attempts" USING btree ("status","updated_at");