-- 002_outbox.sql: webhook endpoints and the one delivery outbox that
-- webhooks and e-mail share (channels as kinds). Rows are written by the
-- publishing transaction (store_outbox.c) so nothing is lost between commit
-- and send; workers claim due rows with FOR UPDATE SKIP LOCKED in the
-- charter's priority order (essential 0, authority 1, important 2, rest 3).
-- A claimed row is 'sending' until lease_until; a crashed worker's rows go
-- back to 'pending' when their lease runs out (at-least-once).

CREATE TABLE webhooks (
	id		bigserial PRIMARY KEY,
	organisation_id	bigint NOT NULL REFERENCES organisations (id),
	url		text NOT NULL,
	format		text NOT NULL DEFAULT 'json' CHECK (format IN
			    ('json','splunk-hec','ecs')),
	targeted	boolean NOT NULL DEFAULT true,
	-- Secrets are encrypted with the server key (AES-256-GCM), never
	-- stored in clear. During a rotation's grace period both are used.
	secret_enc	bytea NOT NULL,
	old_secret_enc	bytea,
	old_secret_until timestamptz,
	splunk_token_enc bytea,
	active		boolean NOT NULL DEFAULT true,
	disabled_reason	text,			-- why active went false
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	-- DELETE keeps the row (its deliveries are history) without secrets.
	deleted_at	timestamptz
);
CREATE INDEX webhooks_org ON webhooks (organisation_id) WHERE deleted_at IS NULL;

CREATE TABLE deliveries (
	id		bigserial PRIMARY KEY,
	-- NULL for what is no event of the public log (a webhook's test):
	-- then payload holds {type, tlp, data}.
	event_id	bigint REFERENCES events (event_id),
	payload		jsonb,
	channel		text NOT NULL CHECK (channel IN ('webhook','email')),
	organisation_id	bigint REFERENCES organisations (id),
	webhook_id	bigint REFERENCES webhooks (id),
	user_id		bigint REFERENCES users (id) ON DELETE SET NULL,
	-- e-mail to an organisation's security contact (no user): the
	-- address is read from the organisation at send time, not copied.
	to_contact	boolean NOT NULL DEFAULT false,
	priority	smallint NOT NULL,
	state		text NOT NULL DEFAULT 'pending' CHECK (state IN
			    ('pending','sending','delivered','failed',
			     'cancelled')),
	msg_id		text NOT NULL,		-- webhook-id / Message-ID
	attempts	integer NOT NULL DEFAULT 0,
	next_attempt_at	timestamptz NOT NULL DEFAULT now(),
	lease_until	timestamptz,		-- a claimed row's deadline
	last_status	integer,
	last_error	text,
	last_response	text,			-- first bytes of the answer
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	delivered_at	timestamptz,
	CHECK (event_id IS NOT NULL OR payload IS NOT NULL)
);
-- Claims walk this in order: priority, then oldest.
CREATE INDEX deliveries_due ON deliveries (channel, priority, id)
	WHERE state = 'pending';
CREATE INDEX deliveries_leased ON deliveries (lease_until)
	WHERE state = 'sending';
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id);
-- One delivery per (event, endpoint), whatever plans it twice.
CREATE UNIQUE INDEX deliveries_event_webhook ON deliveries (event_id,
	webhook_id) WHERE event_id IS NOT NULL AND webhook_id IS NOT NULL;

-- One row per attempt: what was sent when, and what came back.
CREATE TABLE delivery_attempts (
	delivery_id	bigint NOT NULL REFERENCES deliveries (id)
			    ON DELETE CASCADE,
	attempt		integer NOT NULL,
	started_at	timestamptz NOT NULL DEFAULT now(),
	duration_ms	integer,
	status		integer,
	error		text,
	response	text,
	PRIMARY KEY (delivery_id, attempt)
);
