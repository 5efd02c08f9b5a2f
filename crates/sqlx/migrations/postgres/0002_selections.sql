-- dravo-connect: target selection. An account says what it publishes as (the person who
-- logged in, or a Page, organisation, Instagram account or board picked after consent) and,
-- for a picked target, the person account it was picked through. A selection holds the
-- targets a connect found until the host picks some (10 minutes), their own tokens sealed.

ALTER TABLE dravo_accounts ADD COLUMN target_type TEXT NOT NULL DEFAULT 'person';
ALTER TABLE dravo_accounts ADD COLUMN parent_account_id TEXT;

CREATE TABLE dravo_selections (
    id                  TEXT    NOT NULL PRIMARY KEY,
    tenant              TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    app_id              TEXT,
    account_id          TEXT    NOT NULL,
    external_id         TEXT,
    -- JSON array of targets; each target's own token is sealed ciphertext (base64).
    targets             TEXT    NOT NULL,
    created_at          BIGINT  NOT NULL,
    expires_at          BIGINT  NOT NULL,
    consumed_at         BIGINT
);

-- `sweep_selections`: `WHERE expires_at < $1`.
CREATE INDEX dravo_selections_expiry ON dravo_selections (expires_at);
