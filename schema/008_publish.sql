-- 008_publish.sql: publishing advisories in groups (server/publish.c).
--
-- Identifiers are gap-free and events are made visible in id order, so
-- every publish takes two locks that are held until its commit: the year's
-- id_counters row and the event-ordering lock (store_events.c). One
-- transaction per advisory therefore serialises publishing on commit
-- latency. tocsind instead gathers the publishes that arrive together and
-- writes them with one call of tocsin_publish_advisories, a statement of
-- its own: one round trip and one commit for the group, each advisory
-- still all-or-nothing with its revision, event, audit entry and
-- deliveries.
--
-- p_items: a JSON array, one object per advisory, in the order numbers are
-- to be given:
--   publisher_id	the publishing user
--   doc		the normalised document (with its audience)
--   scope		the event's scope (store_events.c)
--   aud_orgs, aud_sectors, aud_kinds, aud_users	the audience, as arrays
--   client		the client address for the audit entry, or null
--   plan		its deliveries, or absent (tocsin_write_deliveries)
-- Returns one row per item: its position, identifier, number, event id and
-- publication time (RFC 3339, UTC, as the API shows it).

-- The deliveries planned for event P_EVENT (store_outbox_plan_json in
-- server/store_outbox.c), in the caller's transaction: P_PLAN is
-- {"rows": [{channel, organisation_id, webhook_id, user_id, to_contact,
-- priority, msg_id}], "digest_planned": epoch, "digest_users": [ids],
-- "digest_due": [epochs]}: one delivery row per recipient (and a NOTIFY
-- for the workers), one email_digest entry per user who takes it in a
-- digest. Returns the number of delivery rows.
CREATE FUNCTION tocsin_write_deliveries(p_event bigint, p_plan jsonb)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	n	integer := 0;
BEGIN
	IF jsonb_array_length(coalesce(p_plan -> 'rows', '[]')) > 0 THEN
		INSERT INTO deliveries (event_id, channel, organisation_id,
		    webhook_id, user_id, to_contact, priority, msg_id)
		SELECT p_event, d.channel, d.organisation_id, d.webhook_id,
		    d.user_id, d.to_contact, d.priority, d.msg_id
		FROM jsonb_to_recordset(p_plan -> 'rows') AS d(channel text,
		    organisation_id bigint, webhook_id bigint, user_id bigint,
		    to_contact boolean, priority smallint, msg_id text);
		GET DIAGNOSTICS n = ROW_COUNT;
		PERFORM pg_notify('tocsin_outbox', '');
	END IF;
	IF jsonb_array_length(coalesce(p_plan -> 'digest_users', '[]')) > 0 THEN
		INSERT INTO email_digest (user_id, event_id, planned_at, due_at)
		SELECT u.v::bigint, p_event,
		    to_timestamp((p_plan ->> 'digest_planned')::float8),
		    to_timestamp(d.v::float8)
		FROM jsonb_array_elements_text(p_plan -> 'digest_users')
		    WITH ORDINALITY AS u(v, k)
		JOIN jsonb_array_elements_text(p_plan -> 'digest_due')
		    WITH ORDINALITY AS d(v, k) USING (k)
		ON CONFLICT DO NOTHING;
	END IF;
	RETURN n;
END;
$$;

CREATE FUNCTION tocsin_publish_advisories(p_prefix text, p_publisher text,
    p_items jsonb)
RETURNS TABLE (ord integer, id text, num bigint, event_id bigint,
    published_at text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	n		integer := jsonb_array_length(p_items);
	y		integer := extract(year FROM now() AT TIME ZONE 'UTC')::int;
	ts		text := to_char(now() AT TIME ZONE 'UTC',
			    'YYYY-MM-DD"T"HH24:MI:SS"Z"');
	last_n		integer;
	seq		text;
	it		jsonb;
	doc		jsonb;
	v_id		text;
	v_num		bigint;
	v_ev		bigint;
BEGIN
	IF n = 0 THEN
		RETURN;
	END IF;
	-- The numbers first (the counter row stays locked until commit, so a
	-- rollback gives them back), then the event-ordering lock, in the
	-- order every other writer takes them.
	INSERT INTO id_counters AS c (prefix, year, last)
	VALUES (p_prefix, y, n)
	ON CONFLICT (prefix, year) DO UPDATE SET last = c.last + n
	RETURNING c.last INTO last_n;
	PERFORM pg_advisory_xact_lock(7411002);

	FOR i IN 0 .. n - 1 LOOP
		it := p_items -> i;
		doc := it -> 'doc';
		seq := (last_n - n + 1 + i)::text;
		v_id := p_prefix || '-' || y || '-' ||
		    CASE WHEN length(seq) < 4 THEN lpad(seq, 4, '0') ELSE seq END;

		INSERT INTO advisories (id, publisher_id)
		VALUES (v_id, (it ->> 'publisher_id')::bigint)
		RETURNING advisories.num INTO v_num;

		INSERT INTO advisory_revisions (advisory_num, revision, tlp,
		    severity, title, summary, sectors, cves, products, aud_orgs,
		    aud_sectors, aud_kinds, aud_users, doc, created_by)
		VALUES (v_num, 1, doc ->> 'tlp', doc ->> 'severity',
		    doc ->> 'title', coalesce(doc ->> 'summary', ''),
		    ARRAY(SELECT jsonb_array_elements_text(
			coalesce(doc -> 'sectors', '[]'))),
		    ARRAY(SELECT jsonb_array_elements_text(
			coalesce(doc -> 'cves', '[]'))),
		    ARRAY(SELECT jsonb_array_elements_text(
			coalesce(doc -> 'products', '[]'))),
		    ARRAY(SELECT jsonb_array_elements_text(
			it -> 'aud_orgs')::bigint),
		    ARRAY(SELECT jsonb_array_elements_text(it -> 'aud_sectors')),
		    ARRAY(SELECT jsonb_array_elements_text(it -> 'aud_kinds')),
		    ARRAY(SELECT jsonb_array_elements_text(
			it -> 'aud_users')::bigint),
		    doc, (it ->> 'publisher_id')::bigint);

		-- The event's data is the advisory as subscribers see it:
		-- what store_advisories_json() shows, without the audience.
		INSERT INTO events (type, item_kind, item_id, revision, tlp,
		    scope, data)
		VALUES ('advisory.published', 'advisory', v_id, 1,
		    doc ->> 'tlp', it -> 'scope',
		    (doc - 'audience') || jsonb_build_object('id', v_id,
		    'revision', 1, 'latest_revision', 1, 'status', 'published',
		    'published_at', ts, 'updated_at', ts,
		    'publisher', p_publisher))
		RETURNING events.event_id INTO v_ev;

		INSERT INTO audit (actor_user_id, action, object_type,
		    object_id, details, client_addr)
		VALUES ((it ->> 'publisher_id')::bigint, 'advisory.publish',
		    'advisory', v_id, jsonb_build_object('revision', 1,
		    'tlp', doc ->> 'tlp', 'event_id', v_ev),
		    (it ->> 'client')::inet);

		IF it ? 'plan' THEN
			PERFORM tocsin_write_deliveries(v_ev, it -> 'plan');
		END IF;

		ord := i;
		id := v_id;
		num := v_num;
		event_id := v_ev;
		published_at := ts;
		RETURN NEXT;
	END LOOP;
	-- One wake-up for the group: listeners read every event past theirs.
	PERFORM pg_notify('tocsin_events', v_ev::text);
END;
$$;
