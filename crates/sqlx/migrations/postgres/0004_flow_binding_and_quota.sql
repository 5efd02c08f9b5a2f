-- dravo-connect: browser binding set once by the hop, and the per-tenant cap on pending flows.
--
-- `browser_binding` is the SHA-256 digest of the random cookie value the hop gave the first
-- browser that opened it (NULL until then); the hop sets it with a compare-and-set
-- (`WHERE browser_binding IS NULL AND consumed_at IS NULL`), so a flow is bound once.
--
-- `dravo_flows_pending` serves `start`'s cap: it counts the tenant's pending flows
-- (`WHERE tenant = ? AND consumed_at IS NULL AND expires_at > ?`, at most the cap deep) from
-- this partial index, never from the table.

ALTER TABLE dravo_flows ADD COLUMN browser_binding BYTEA;

CREATE INDEX dravo_flows_pending ON dravo_flows (tenant, expires_at) WHERE consumed_at IS NULL;
