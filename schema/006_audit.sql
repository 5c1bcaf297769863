-- 006_audit.sql: the audit log (server/audit.c). One row per audited
-- action (advisory.publish, advisory.revise, advisory.revoke, token.create,
-- token.revoke, asset.approve, asset.reject, deliveries.read, user.create,
-- user.update, user.delete, user.export, auth.sign_in, retention.purge),
-- written in the action's own transaction where it has one. Ids only:
-- details never hold e-mail addresses, names or secrets. client_addr is
-- personal data: entries are deleted after retention.audit_days.

CREATE TABLE audit (
	id		bigserial PRIMARY KEY,
	at		timestamptz NOT NULL DEFAULT now(),
	-- NULL: the system. Users are never deleted (only made anonymous),
	-- so the reference holds.
	actor_user_id	bigint REFERENCES users (id),
	action		text NOT NULL,
	object_type	text NOT NULL,
	object_id	text,
	details		jsonb NOT NULL DEFAULT '{}',
	client_addr	inet
);
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_actor ON audit (actor_user_id, id);
CREATE INDEX audit_object ON audit (object_type, object_id, id);
CREATE INDEX audit_action ON audit (action, id);
