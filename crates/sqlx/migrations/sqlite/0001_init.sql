-- dravo-connect: the initial SQLite schema.
--
-- Applied by `SqliteStore::migrate`, which records it in `dravo_connect_migrations` (not
-- sqlx's `_sqlx_migrations`), so these tables live beside a host's own in one database.
-- A migration, once released, is never edited: its checksum is checked on every start.
--
-- Conventions: every table is prefixed `dravo_` and every row belongs to one tenant; times
-- are INTEGER unix seconds bound by the caller (never `now()`); lists are JSON arrays of
-- strings in TEXT; secrets are sealed ciphertext (version, key id, nonce, ciphertext, tag)
-- in BLOB columns, never plaintext.

CREATE TABLE dravo_apps (
    id                  TEXT    NOT NULL PRIMARY KEY,
    tenant              TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    name                TEXT,
    client_id           TEXT    NOT NULL,
    client_secret       BLOB    NOT NULL,
    allowed_return_urls TEXT    NOT NULL,
    scopes              TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
) STRICT;

-- Lists: `WHERE tenant = ? ORDER BY created_at, id`.
CREATE INDEX dravo_apps_list ON dravo_apps (tenant, created_at, id);

CREATE TABLE dravo_accounts (
    id                  TEXT    NOT NULL PRIMARY KEY,
    tenant              TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    app_id              TEXT,
    provider_account_id TEXT    NOT NULL,
    external_id         TEXT,
    -- The identity treats an absent external id as one value: '' is never a valid
    -- external id, so it stands for NULL in the unique key.
    external_key        TEXT    NOT NULL GENERATED ALWAYS AS (coalesce(external_id, '')) VIRTUAL,
    username            TEXT,
    display_name        TEXT,
    avatar_url          TEXT,
    scopes              TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    access_token        BLOB    NOT NULL,
    refresh_token       BLOB,
    token_expires_at    INTEGER,
    connected_at        INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
) STRICT;

-- The account identity: reconnecting updates the existing row, never duplicates it.
CREATE UNIQUE INDEX dravo_accounts_identity
    ON dravo_accounts (tenant, provider, provider_account_id, external_key);
-- Lists: `WHERE tenant = ? ORDER BY connected_at, id`.
CREATE INDEX dravo_accounts_list ON dravo_accounts (tenant, connected_at, id);
-- `delete_app`: the accounts that use an app.
CREATE INDEX dravo_accounts_app ON dravo_accounts (tenant, app_id);

CREATE TABLE dravo_flows (
    id                  BLOB    NOT NULL PRIMARY KEY,
    tenant              TEXT    NOT NULL,
    app_id              TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    return_url          TEXT    NOT NULL,
    redirect_uri        TEXT    NOT NULL,
    pkce_verifier       BLOB,
    scopes              TEXT    NOT NULL,
    external_id         TEXT,
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    consumed_at         INTEGER
) STRICT;

-- `sweep_flows`: `WHERE expires_at < ?`.
CREATE INDEX dravo_flows_expiry ON dravo_flows (expires_at);
-- `delete_app`: the flows of an app.
CREATE INDEX dravo_flows_app ON dravo_flows (tenant, app_id);
