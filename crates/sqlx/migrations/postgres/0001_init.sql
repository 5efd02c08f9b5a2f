-- dravo-connect: the initial PostgreSQL schema.
--
-- Applied by `PostgresStore::migrate` (under an advisory lock, so instances starting at once
-- do not race), which records it in `dravo_connect_migrations` (not sqlx's
-- `_sqlx_migrations`), so these tables live beside a host's own in one database. The tables
-- are created in the connection's current schema (the first of its `search_path`). A
-- migration, once released, is never edited: its checksum is checked on every start.
--
-- Conventions, as in the SQLite schema: every table is prefixed `dravo_` and every row
-- belongs to one tenant; times are BIGINT unix seconds bound by the caller (never `now()`),
-- so every instance agrees with its injected clock; lists are JSON arrays of strings in
-- TEXT; secrets are sealed ciphertext (version, key id, nonce, ciphertext, tag) in BYTEA
-- columns, never plaintext.

CREATE TABLE dravo_apps (
    id                  TEXT    NOT NULL PRIMARY KEY,
    tenant              TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    name                TEXT,
    client_id           TEXT    NOT NULL,
    client_secret       BYTEA   NOT NULL,
    allowed_return_urls TEXT    NOT NULL,
    scopes              TEXT    NOT NULL,
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL
);

-- Lists: `WHERE tenant = $1 ORDER BY created_at, id`.
CREATE INDEX dravo_apps_list ON dravo_apps (tenant, created_at, id);
-- Walks over every tenant (re-encryption): `ORDER BY created_at, id`.
CREATE INDEX dravo_apps_all ON dravo_apps (created_at, id);

CREATE TABLE dravo_accounts (
    id                  TEXT    NOT NULL PRIMARY KEY,
    tenant              TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    app_id              TEXT,
    provider_account_id TEXT    NOT NULL,
    external_id         TEXT,
    -- The identity treats an absent external id as one value: '' is never a valid
    -- external id, so it stands for NULL in the unique key.
    external_key        TEXT    NOT NULL GENERATED ALWAYS AS (coalesce(external_id, '')) STORED,
    username            TEXT,
    display_name        TEXT,
    avatar_url          TEXT,
    scopes              TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    access_token        BYTEA   NOT NULL,
    refresh_token       BYTEA,
    token_expires_at    BIGINT,
    connected_at        BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL,
    -- The cross-instance refresh lease: who refreshes the tokens now, and until when.
    lease_holder        TEXT,
    lease_until         BIGINT
);

-- The account identity: reconnecting updates the existing row, never duplicates it.
CREATE UNIQUE INDEX dravo_accounts_identity
    ON dravo_accounts (tenant, provider, provider_account_id, external_key);
-- Lists: `WHERE tenant = $1 ORDER BY connected_at, id`.
CREATE INDEX dravo_accounts_list ON dravo_accounts (tenant, connected_at, id);
-- Walks over every tenant (re-encryption): `ORDER BY connected_at, id`.
CREATE INDEX dravo_accounts_all ON dravo_accounts (connected_at, id);
-- `delete_app`: the accounts that use an app.
CREATE INDEX dravo_accounts_app ON dravo_accounts (tenant, app_id);

CREATE TABLE dravo_flows (
    id                  BYTEA   NOT NULL PRIMARY KEY,
    tenant              TEXT    NOT NULL,
    app_id              TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    return_url          TEXT    NOT NULL,
    redirect_uri        TEXT    NOT NULL,
    pkce_verifier       BYTEA,
    scopes              TEXT    NOT NULL,
    external_id         TEXT,
    created_at          BIGINT  NOT NULL,
    expires_at          BIGINT  NOT NULL,
    consumed_at         BIGINT
);

-- `sweep_flows`: `WHERE expires_at < $1`.
CREATE INDEX dravo_flows_expiry ON dravo_flows (expires_at);
-- `delete_app`: the flows of an app.
CREATE INDEX dravo_flows_app ON dravo_flows (tenant, app_id);
