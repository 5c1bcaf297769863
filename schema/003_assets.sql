-- 003_assets.sql: spear warnings. Organisations register the networks, AS
-- numbers and domains they own (assets); an admin approves them; warnings
-- made of observations about those assets go to their owner only.

CREATE TABLE assets (
	id		bigserial PRIMARY KEY,
	organisation_id	bigint NOT NULL REFERENCES organisations (id),
	type		text NOT NULL CHECK (type IN ('cidr','asn','domain')),
	-- Normalised by the server: canonical network text with its length
	-- (host bits zero), the AS number in decimal, the domain in lower
	-- case without a trailing dot.
	value		text NOT NULL,
	status		text NOT NULL DEFAULT 'proposed' CHECK (status IN
			    ('proposed','approved','rejected')),
	proposed_by	bigint REFERENCES users (id) ON DELETE SET NULL,
	decided_by	bigint REFERENCES users (id) ON DELETE SET NULL,
	decided_at	timestamptz,
	created_at	timestamptz NOT NULL DEFAULT now(),
	CHECK ((status = 'proposed') = (decided_at IS NULL))
);
-- An organisation registers a value once.
CREATE UNIQUE INDEX assets_org_value ON assets (organisation_id, type, value);
-- Overlaps between organisations are fine (the most specific wins), but one
-- exact value has one approved owner: otherwise who gets it is a guess.
CREATE UNIQUE INDEX assets_approved_value ON assets (type, value)
	WHERE status = 'approved';
CREATE INDEX assets_status ON assets (status, id);

-- The matcher is cached in memory by every tocsind and rebuilt when this
-- number moves: any change to assets, or to which organisations are active
-- (a deactivated organisation's assets stop matching), bumps it.
CREATE TABLE asset_generation (
	one		boolean PRIMARY KEY DEFAULT true CHECK (one),
	gen		bigint NOT NULL DEFAULT 0
);
INSERT INTO asset_generation DEFAULT VALUES;

CREATE FUNCTION asset_generation_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE asset_generation SET gen = gen + 1;
	RETURN NULL;
END;
$$;
CREATE TRIGGER assets_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON assets FOR EACH STATEMENT EXECUTE FUNCTION asset_generation_bump();
CREATE TRIGGER organisations_active_changed AFTER UPDATE OF active
	ON organisations FOR EACH STATEMENT
	EXECUTE FUNCTION asset_generation_bump();

-- Warnings: one per owning organisation (or several parts when its
-- observations are many), each with its own identifier of a series
-- distinct from advisories' (PREFIX-W-YYYY-NNNNN, counter "PREFIX-W").
CREATE TABLE warnings (
	num		bigserial PRIMARY KEY,	-- internal order, list cursor
	id		text NOT NULL UNIQUE,
	organisation_id	bigint NOT NULL REFERENCES organisations (id),
	tlp		text NOT NULL DEFAULT 'AMBER+STRICT' CHECK (tlp IN
			    ('AMBER','AMBER+STRICT')),
	title		text NOT NULL,
	description	text NOT NULL DEFAULT '',
	category	text NOT NULL DEFAULT '',
	severity	text NOT NULL DEFAULT 'high' CHECK (severity IN
			    ('low','medium','high','critical')),
	-- That organisation's observations only, normalised.
	observations	jsonb NOT NULL,
	observation_count integer NOT NULL,
	part		integer NOT NULL DEFAULT 1,
	parts		integer NOT NULL DEFAULT 1,
	publisher_id	bigint REFERENCES users (id),
	event_id	bigint REFERENCES events (event_id),
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX warnings_org ON warnings (organisation_id, num);
