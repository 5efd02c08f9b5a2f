-- dravo-connect: provider state, a namespaced, sealed key-value collection for what one
-- provider keeps for one app (Mastodon: the client registered at each instance).
--
-- From this migration on, SQLite and PostgreSQL migrations share their numbers: 0006 is the
-- same change in both. (Before it they differ: SQLite's 0002 is part of PostgreSQL's 0001,
-- so SQLite's 0003-0005 are PostgreSQL's 0002-0004; released migrations are never
-- renumbered, since databases record them by number and checksum.)
--
-- One row per (tenant, app, namespace, key): the namespace is the provider's id, the key
-- the provider's own. `metadata` is plain text the provider writes (JSON for the built-in
-- ones); `secret` is sealed by the crate like every other secret. Inserts are
-- `ON CONFLICT DO NOTHING`, so two callers racing to create an entry keep one.

CREATE TABLE dravo_provider_state (
    tenant              TEXT    NOT NULL,
    app_id              TEXT    NOT NULL,
    namespace           TEXT    NOT NULL,
    state_key           TEXT    NOT NULL,
    metadata            TEXT    NOT NULL,
    secret              BYTEA   NOT NULL,
    created_at          BIGINT  NOT NULL,
    PRIMARY KEY (tenant, app_id, namespace, state_key)
);

-- Mastodon's registrations move in: the key is the instance, the sealed client secret
-- stays as it is (its associated data, `{app_id}@{instance}`, is the entry's `{app_id}@{key}`).
INSERT INTO dravo_provider_state (tenant, app_id, namespace, state_key, metadata, secret, created_at)
SELECT tenant, app_id, 'mastodon', instance,
       json_build_object('origin', origin, 'client_id', client_id, 'scopes', scopes::json)::TEXT,
       client_secret, created_at
FROM dravo_instance_registrations;

DROP TABLE dravo_instance_registrations;
