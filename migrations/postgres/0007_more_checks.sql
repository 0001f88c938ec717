-- The degraded state, certificates seen by https and tls checks, ping's packet loss, and push tokens.
ALTER TABLE service_status ADD COLUMN cert_expires_at TIMESTAMPTZ;
ALTER TABLE service_status ADD COLUMN cert_issuer TEXT;
ALTER TABLE service_status ADD COLUMN cert_subject TEXT;
-- What people were last told of the certificate: its expiry and the threshold (days) crossed.
ALTER TABLE service_status ADD COLUMN cert_warned_expiry TIMESTAMPTZ;
ALTER TABLE service_status ADD COLUMN cert_warned_days INTEGER;
-- A passing result that left the tile degraded (its reason in error).
ALTER TABLE check_results ADD COLUMN degraded BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE check_results ADD COLUMN packet_loss_pct SMALLINT;
-- Push checks: the secret of each tile's push URL (kept in its check too), found by it.
ALTER TABLE services ADD COLUMN push_token TEXT;
CREATE UNIQUE INDEX services_push_token ON services (push_token);
