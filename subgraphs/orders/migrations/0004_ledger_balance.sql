-- The chart of accounts the postings use (subgraphs/orders/ledger).
INSERT INTO "ledger_accounts" ("code", "name", "type") VALUES
  ('1000', 'Payment provider clearing', 'ASSET'),
  ('1010', 'Cash on hand', 'ASSET'),
  ('1020', 'Bank', 'ASSET'),
  ('2100', 'Sales tax payable', 'LIABILITY'),
  ('4000', 'Sales', 'REVENUE'),
  ('4010', 'Shipping income', 'REVENUE'),
  ('4900', 'Sales refunds', 'REVENUE'),
  ('6100', 'Payment processing fees', 'EXPENSE')
ON CONFLICT ("code") DO NOTHING;
--> statement-breakpoint
-- Every journal entry must balance. The check runs at commit, once the
-- whole entry is written, for each entry touched by the transaction.
CREATE FUNCTION "journal_entry_check_balanced"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  checked_entry uuid;
  debits numeric;
  credits numeric;
  line_count integer;
BEGIN
  IF TG_TABLE_NAME = 'journal_entries' THEN
    checked_entry := NEW.id;
  ELSE
    checked_entry := NEW.entry_id;
  END IF;
  SELECT coalesce(sum(debit), 0), coalesce(sum(credit), 0), count(*)
    INTO debits, credits, line_count
    FROM journal_lines WHERE entry_id = checked_entry;
  IF line_count < 2 OR debits <> credits THEN
    RAISE EXCEPTION 'journal entry % is unbalanced: debits %, credits %, % lines',
      checked_entry, debits, credits, line_count
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE CONSTRAINT TRIGGER "journal_entries_balanced"
  AFTER INSERT ON "journal_entries"
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION "journal_entry_check_balanced"();
--> statement-breakpoint
CREATE CONSTRAINT TRIGGER "journal_lines_balanced"
  AFTER INSERT ON "journal_lines"
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION "journal_entry_check_balanced"();
--> statement-breakpoint
-- The journal is append-only: corrections are new entries.
CREATE FUNCTION "journal_refuse_change"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the journal is append-only; post a correcting entry instead'
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "journal_entries_append_only"
  BEFORE UPDATE OR DELETE ON "journal_entries"
  FOR EACH ROW EXECUTE FUNCTION "journal_refuse_change"();
--> statement-breakpoint
CREATE TRIGGER "journal_lines_append_only"
  BEFORE UPDATE OR DELETE ON "journal_lines"
  FOR EACH ROW EXECUTE FUNCTION "journal_refuse_change"();
