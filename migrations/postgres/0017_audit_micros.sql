-- Audit events are ordered by when they happened, and several can happen within
-- one second (a refusal batched on the token path and an admin's change): `at_us`
-- is the event's time in unix microseconds (was `at`, in seconds). The indexes
-- on (at, id) follow the renamed column.
ALTER TABLE audit_log RENAME COLUMN at TO at_us;
UPDATE audit_log SET at_us = at_us * 1000000;
