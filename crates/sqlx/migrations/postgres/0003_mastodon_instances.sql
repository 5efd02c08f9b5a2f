-- dravo-connect: clients registered at the instances of per-instance providers (Mastodon),
-- and the instance a pending flow runs at.
--
-- One row per (tenant, app, instance): the app's first flow at an instance registers a
-- client there (`POST /api/v1/apps`) and inserts it with `ON CONFLICT DO NOTHING`, so two
-- racing first flows keep one. `instance` is the host with a non-default port, `origin` the
-- URL the calls go to. The secret is sealed by the crate like every other.

CREATE TABLE dravo_instance_registrations (
    tenant              TEXT    NOT NULL,
    app_id              TEXT    NOT NULL,
    instance            TEXT    NOT NULL,
    origin              TEXT    NOT NULL,
    client_id           TEXT    NOT NULL,
    client_secret       BYTEA   NOT NULL,
    scopes              TEXT    NOT NULL,
    created_at          BIGINT  NOT NULL,
    PRIMARY KEY (tenant, app_id, instance)
);

-- The origin of the instance a Mastodon flow runs at; NULL for every other provider.
ALTER TABLE dravo_flows ADD COLUMN instance TEXT;
