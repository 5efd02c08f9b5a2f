-- dravo-connect: the cross-instance refresh lease on accounts, and indexes for walks over
-- every tenant (re-encryption after a key rotation).

ALTER TABLE dravo_accounts ADD COLUMN lease_holder TEXT;
ALTER TABLE dravo_accounts ADD COLUMN lease_until INTEGER;

-- Walks over every tenant: `ORDER BY created_at, id` / `ORDER BY connected_at, id`.
CREATE INDEX dravo_apps_all ON dravo_apps (created_at, id);
CREATE INDEX dravo_accounts_all ON dravo_accounts (connected_at, id);
