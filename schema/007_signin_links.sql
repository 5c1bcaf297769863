-- 007_signin_links.sql: sign-in by an e-mailed one-time link (the web's
-- /signin/link). The link carries 32 random bytes; only their SHA-256 is
-- kept. A link is good once, for fifteen minutes, for an active user.

CREATE TABLE web_signin_links (
	hash		bytea PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,	-- to be used before
	used_at		timestamptz		-- once: NULL until then
);
CREATE INDEX web_signin_links_user ON web_signin_links (user_id);
CREATE INDEX web_signin_links_expires ON web_signin_links (expires_at);
