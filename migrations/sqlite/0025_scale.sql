-- What keymint needs at ten million keys: usage written once per key and hour,
-- hourly rows updated in place, and indexes for the scans that run every few seconds.

-- Daily usage is no longer written beside the hourly rows: a daily read sums the
-- hours still kept, and hours are rolled up into `usage_days` when they expire.
-- Until now each day was written in full beside its hours, so what a daily row
-- must keep is only the part of its day whose hours are gone.
UPDATE usage_days AS d SET
    issued = d.issued - h.issued,
    failed = d.failed - h.failed,
    wrong_secret = d.wrong_secret - h.wrong_secret,
    address_not_allowed = d.address_not_allowed - h.address_not_allowed,
    scope_refused = d.scope_refused - h.scope_refused,
    key_inactive = d.key_inactive - h.key_inactive,
    throttled = d.throttled - h.throttled,
    verified = d.verified - h.verified,
    exchanged = d.exchanged - h.exchanged
FROM (
    SELECT key_id, start - start % 86400 AS day,
           SUM(issued) AS issued, SUM(failed) AS failed, SUM(wrong_secret) AS wrong_secret,
           SUM(address_not_allowed) AS address_not_allowed, SUM(scope_refused) AS scope_refused,
           SUM(key_inactive) AS key_inactive, SUM(throttled) AS throttled,
           SUM(verified) AS verified, SUM(exchanged) AS exchanged
    FROM usage_hours GROUP BY key_id, start - start % 86400
) AS h
WHERE d.key_id = h.key_id AND d.start = h.day;
DELETE FROM usage_days
WHERE issued <= 0 AND failed <= 0 AND verified <= 0 AND exchanged <= 0;
-- The expiry and grace-end notices look for active keys whose date falls in a
-- window, every few seconds: with millions of keys that was a scan of the table
-- each time. Only keys that carry such a date are indexed.
CREATE INDEX api_keys_expiring ON api_keys (expires_at, id)
    WHERE status = 'active' AND expires_at IS NOT NULL;
CREATE INDEX api_keys_grace_ending ON api_keys (previous_expires_at, id)
    WHERE status = 'active' AND previous_expires_at IS NOT NULL;
