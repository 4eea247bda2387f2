CREATE TABLE "event_consumer_positions" (
	"consumer" text NOT NULL,
	"source" text NOT NULL,
	"position" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "event_consumer_positions_consumer_source_pk" PRIMARY KEY("consumer","source")
);
