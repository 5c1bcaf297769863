-- 004_web.sql: the web portal's sign-in. A session is a random id held in
-- an HttpOnly cookie; only its SHA-256 is kept, with the per-session CSRF
-- token that every state-changing form must carry back. A stream ticket is
-- a short-lived, single-use credential that the live page exchanges for a
-- WebSocket connection: the page never holds the session id or an API
-- token, and a connection made with a ticket lasts as long as its session.

CREATE TABLE web_sessions (
	id_hash		bytea PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	csrf		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

CREATE TABLE web_stream_tickets (
	hash		bytea PRIMARY KEY,
	session_hash	bytea NOT NULL REFERENCES web_sessions (id_hash)
			    ON DELETE CASCADE,
	user_id		bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	expires_at	timestamptz NOT NULL,	-- to be used before
	used_at		timestamptz		-- once: NULL until then
);
CREATE INDEX web_stream_tickets_session ON web_stream_tickets (session_hash);
CREATE INDEX web_stream_tickets_user ON web_stream_tickets (user_id);
