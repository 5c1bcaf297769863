-- 005_email.sql: e-mail in the one outbox (002_outbox.sql: deliveries with
-- channel 'email', user_id or to_contact). A user's mail, or an
-- organisation's security-contact mail, is planned once per event; items
-- that a user takes in a daily digest wait here until its time comes.

-- One e-mail per (event, user) and per (event, organisation's contact),
-- whatever plans it twice.
CREATE UNIQUE INDEX deliveries_event_user_email ON deliveries (event_id,
	user_id) WHERE channel = 'email' AND event_id IS NOT NULL
	AND user_id IS NOT NULL;
CREATE UNIQUE INDEX deliveries_event_contact_email ON deliveries (event_id,
	organisation_id) WHERE channel = 'email' AND event_id IS NOT NULL
	AND to_contact;

-- Items waiting for a user's daily digest ("daily@HH:MM" subscriptions).
-- planned_at and due_at are by the daemon's clock (tests move it);
-- due_at is the user's next digest time after planned_at, in the daemon's
-- local time. delivery_id: the digest delivery that took the item (not a
-- foreign key: deliveries may be purged, the item must not come back).
CREATE TABLE email_digest (
	user_id		bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	event_id	bigint NOT NULL REFERENCES events (event_id)
			    ON DELETE CASCADE,
	planned_at	timestamptz NOT NULL,
	due_at		timestamptz NOT NULL,
	delivery_id	bigint,
	PRIMARY KEY (user_id, event_id)
);
CREATE INDEX email_digest_due ON email_digest (due_at)
	WHERE delivery_id IS NULL;
