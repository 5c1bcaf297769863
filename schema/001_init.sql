-- 001_init.sql: the foundation. Organisations, people, tokens, advisories
-- with their revisions, subscriptions, and the event log the stream and the
-- delivery workers read. Applied once by "tocsind migrate" inside a
-- transaction and recorded in tocsin_migrations.

CREATE TABLE organisations (
	id		bigserial PRIMARY KEY,
	name		text NOT NULL,
	kind		text NOT NULL CHECK (kind IN
			    ('essential','authority','important','private','public')),
	sectors		text[] NOT NULL DEFAULT '{}',
	contact_email	text,
	active		boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX organisations_name ON organisations (lower(name))
	WHERE active;

CREATE TABLE users (
	id		bigserial PRIMARY KEY,
	organisation_id	bigint REFERENCES organisations (id),
	name		text NOT NULL,
	email		text,
	role		text NOT NULL CHECK (role IN
			    ('admin','publisher','org-admin','member')),
	language	text NOT NULL DEFAULT 'en' CHECK (language IN
			    ('fr','nl','de','en')),
	smime_cert	text,
	active		boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	-- CSIRT staff belong to no organisation; everyone else to one.
	CHECK ((role IN ('admin','publisher')) = (organisation_id IS NULL))
);
CREATE INDEX users_org ON users (organisation_id);

-- Only the SHA-256 of a token is kept; the token itself is shown once.
CREATE TABLE tokens (
	id		bigserial PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash		bytea NOT NULL UNIQUE,
	created_at	timestamptz NOT NULL DEFAULT now(),
	last_used_at	timestamptz,
	revoked_at	timestamptz
);

-- Gap-free identifiers: the row is locked by the publishing transaction, so
-- a rolled-back publish gives its number back.
CREATE TABLE id_counters (
	prefix		text NOT NULL,
	year		integer NOT NULL,
	last		integer NOT NULL,
	PRIMARY KEY (prefix, year)
);

CREATE TABLE advisories (
	num		bigserial PRIMARY KEY,	-- internal order, list cursor
	id		text NOT NULL UNIQUE,	-- PREFIX-YYYY-NNNN
	status		text NOT NULL DEFAULT 'published' CHECK (status IN
			    ('published','revoked')),
	revision	integer NOT NULL DEFAULT 1,	-- latest
	publisher_id	bigint REFERENCES users (id),
	published_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);

-- Every revision is kept whole; the columns are copies of the document's
-- fields so that lists can be narrowed in SQL (tlp_may_see decides).
CREATE TABLE advisory_revisions (
	advisory_num	bigint NOT NULL REFERENCES advisories (num),
	revision	integer NOT NULL,
	tlp		text NOT NULL,
	severity	text NOT NULL,
	title		text NOT NULL,
	summary		text NOT NULL DEFAULT '',
	sectors		text[] NOT NULL DEFAULT '{}',
	cves		text[] NOT NULL DEFAULT '{}',
	products	text[] NOT NULL DEFAULT '{}',
	aud_orgs	bigint[] NOT NULL DEFAULT '{}',
	aud_sectors	text[] NOT NULL DEFAULT '{}',
	aud_kinds	text[] NOT NULL DEFAULT '{}',
	aud_users	bigint[] NOT NULL DEFAULT '{}',
	doc		jsonb NOT NULL,		-- the advisory as published
	created_by	bigint REFERENCES users (id),
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (advisory_num, revision)
);
CREATE INDEX advisory_revisions_cves ON advisory_revisions USING gin (cves);

CREATE TABLE subscriptions (
	id		bigserial PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name		text NOT NULL,
	filter		jsonb NOT NULL DEFAULT '{}',
	channels	jsonb NOT NULL DEFAULT '[]',
	digest		text NOT NULL DEFAULT 'immediate' CHECK (digest =
			    'immediate' OR digest ~
			    '^daily@([01][0-9]|2[0-3]):[0-5][0-9]$'),
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_user ON subscriptions (user_id);

-- The event log. event_id is taken under a transaction-scoped advisory lock
-- held until commit (see store_events.c), so ids become visible in order:
-- a reader that has seen N never later finds an id below N appearing.
-- scope: one element per revision concerned, each {tlp, audience, match
-- fields}; a principal receives the event if any element lets it see.
CREATE TABLE events (
	event_id	bigserial PRIMARY KEY,
	type		text NOT NULL,
	item_kind	text NOT NULL,		-- advisory, warning
	item_id		text NOT NULL,
	revision	integer NOT NULL,
	tlp		text NOT NULL,
	scope		jsonb NOT NULL,
	data		jsonb NOT NULL,		-- the "data" member of the message
	created_at	timestamptz NOT NULL DEFAULT now()
);

-- Events older than this were purged: a resume from before it is told so.
CREATE TABLE event_horizon (
	one		boolean PRIMARY KEY DEFAULT true CHECK (one),
	purged_before	bigint NOT NULL DEFAULT 0
);
INSERT INTO event_horizon DEFAULT VALUES;
