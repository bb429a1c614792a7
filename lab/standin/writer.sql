-- One round of the lab's live writer on bj-data (lab/standin/writer.sh runs it with -v n=ROUND -v host=NAME),
-- changing BlueMind's real schema (lab/schema/bluemind-{4,5}.sql) as the core does:
-- - every round, new mail: a body (20-byte guid), an item `<imap uid>.` and a t_mailbox_record in one folder
--   (LmtpMessageHandler.java: recs.create(rec.imapUid + ".", rec)), the folder's replica row advanced;
-- - every round, a flag change (\Seen toggled) on another message of that folder;
-- - every 10th round, a move: a copy into another folder (same body, new uid) and the expunge of the
--   original; every 10th (+5), a deletion (expunge) in a third folder;
-- - every 7th round, a calendar event edited (summary, sequence).
-- Each change bumps the container's t_container_sequence, sets the item's version and writes the
-- changelog: 4.x t_container_changelog (its trigger keeps t_container_changeset), 5.1
-- proc_insert_t_changeset (item-store schema). Deterministic for a given round and database content.
SELECT set_config('bm_lab.n', :'n', false), set_config('bm_lab.host', :'host', false);
DO $writer$
DECLARE
  n int := current_setting('bm_lab.n')::int;
  five boolean := to_regclass('public.t_changeset') IS NOT NULL;
  boxes int;
  box int;
  other int;
  third int;
  v_guid bytea;
  v_uid bigint;
  v_item bigint;
  v_sub int;
  r record;
  -- The changes of this round, written to the changelog at the end: container, item, item uid, type.
  c_ids int[] := '{}';
  i_ids bigint[] := '{}';
  i_uids text[] := '{}';
  kinds smallint[] := '{}';
  ver int;
BEGIN
  SELECT count(*) INTO boxes FROM t_container WHERE container_type = 'mailbox_records';
  IF boxes = 0 THEN
    RETURN;
  END IF;
  SELECT id INTO box FROM t_container WHERE container_type = 'mailbox_records' ORDER BY id OFFSET (n * 7919) % boxes LIMIT 1;
  SELECT id INTO other FROM t_container WHERE container_type = 'mailbox_records' ORDER BY id OFFSET (n * 104729 + 1) % boxes LIMIT 1;
  SELECT id INTO third FROM t_container WHERE container_type = 'mailbox_records' ORDER BY id OFFSET (n * 15485863 + 2) % boxes LIMIT 1;

  -- New mail.
  v_guid := substr(sha256(convert_to('writer:' || n || ':' || current_setting('bm_lab.host'), 'UTF8')), 1, 20);
  INSERT INTO t_message_body (guid, subject, structure, headers, recipients, message_id, date_header, size, preview, body_version, created)
    VALUES (v_guid, 'live ' || n, '{"mime": "text/plain"}', '[]', '[]', '<w' || n || '@lab>', now(), (n * 1103) % 6000 + 200,
            'live ' || n, 1, now())
    ON CONFLICT (guid) DO NOTHING;
  SELECT coalesce(max(imap_uid), 0) + 1 INTO v_uid FROM t_mailbox_record WHERE container_id = box;
  INSERT INTO t_container_item (container_id, uid, version, createdby, updatedby, created, updated, flags)
    VALUES (box, v_uid || '.', 0, 'system', 'system', now(), now(), 0) RETURNING id INTO v_item;
  IF five THEN
    SELECT s.id INTO v_sub FROM t_container s JOIN t_container b ON b.owner = s.owner
      WHERE b.id = box AND s.container_type = 'replicated_mailboxes';
    INSERT INTO t_mailbox_record (item_id, subtree_id, container_id, imap_uid, conversation_id, last_updated, internal_date,
        system_flags, message_body_guid, other_flags)
      VALUES (v_item, v_sub, box, v_uid, n, now(), now(), 0, v_guid, NULL);
  ELSE
    INSERT INTO t_mailbox_record (message_body_guid, imap_uid, mod_seq, last_updated, internal_date, system_flags, other_flags,
        container_id, conversation_id, item_id)
      VALUES (v_guid, v_uid, v_uid, now(), now(), 0, NULL, box, n, v_item);
  END IF;
  UPDATE t_mailbox_replica SET last_uid = v_uid, highest_mod_seq = highest_mod_seq + 1, last_append_date = now()
    WHERE unique_id = (SELECT substr(c.uid, length('mbox_records_') + 1) FROM t_container c WHERE c.id = box);
  c_ids := c_ids || box; i_ids := i_ids || v_item; i_uids := i_uids || (v_uid || '.'); kinds := kinds || 0::smallint;

  -- A flag change on an older message of the folder (all its rows: 4.x may hold a record twice).
  SELECT item_id, imap_uid INTO r FROM t_mailbox_record WHERE container_id = box AND imap_uid < v_uid AND system_flags & 4 = 0
    ORDER BY imap_uid OFFSET n % 17 LIMIT 1;
  IF FOUND THEN
    UPDATE t_mailbox_record SET system_flags = system_flags # 16, last_updated = now() WHERE container_id = box AND item_id = r.item_id;
    UPDATE t_container_item SET flags = flags # 1 WHERE id = r.item_id;
    c_ids := c_ids || box; i_ids := i_ids || r.item_id; i_uids := i_uids || (r.imap_uid || '.'); kinds := kinds || 1::smallint;
  END IF;

  -- A move: copied into another folder, expunged from its own.
  IF n % 10 = 0 AND other <> box THEN
    SELECT * INTO r FROM t_mailbox_record WHERE container_id = box AND imap_uid < v_uid ORDER BY imap_uid LIMIT 1;
    IF FOUND THEN
      SELECT coalesce(max(imap_uid), 0) + 1 INTO v_uid FROM t_mailbox_record WHERE container_id = other;
      INSERT INTO t_container_item (container_id, uid, version, createdby, updatedby, created, updated, flags)
        VALUES (other, v_uid || '.', 0, 'system', 'system', now(), now(), 0) RETURNING id INTO v_item;
      IF five THEN
        SELECT s.id INTO v_sub FROM t_container s JOIN t_container b ON b.owner = s.owner
          WHERE b.id = other AND s.container_type = 'replicated_mailboxes';
        INSERT INTO t_mailbox_record (item_id, subtree_id, container_id, imap_uid, conversation_id, last_updated, internal_date,
            system_flags, message_body_guid, other_flags)
          VALUES (v_item, v_sub, other, v_uid, r.conversation_id, now(), r.internal_date, r.system_flags, r.message_body_guid, r.other_flags);
      ELSE
        INSERT INTO t_mailbox_record (message_body_guid, imap_uid, mod_seq, last_updated, internal_date, system_flags, other_flags,
            container_id, conversation_id, item_id)
          VALUES (r.message_body_guid, v_uid, v_uid, now(), r.internal_date, r.system_flags, r.other_flags, other, r.conversation_id, v_item);
      END IF;
      c_ids := c_ids || other; i_ids := i_ids || v_item; i_uids := i_uids || (v_uid || '.'); kinds := kinds || 0::smallint;
      DELETE FROM t_mailbox_record WHERE container_id = box AND item_id = r.item_id;
      DELETE FROM t_container_item WHERE id = r.item_id;
      c_ids := c_ids || box; i_ids := i_ids || r.item_id; i_uids := i_uids || (r.imap_uid || '.'); kinds := kinds || 2::smallint;
    END IF;
  END IF;

  -- A deletion (expunge) elsewhere.
  IF n % 10 = 5 AND third <> box THEN
    SELECT item_id, imap_uid INTO r FROM t_mailbox_record WHERE container_id = third ORDER BY imap_uid OFFSET n % 5 LIMIT 1;
    IF FOUND THEN
      DELETE FROM t_mailbox_record WHERE container_id = third AND item_id = r.item_id;
      DELETE FROM t_container_item WHERE id = r.item_id;
      c_ids := c_ids || third; i_ids := i_ids || r.item_id; i_uids := i_uids || (r.imap_uid || '.'); kinds := kinds || 2::smallint;
    END IF;
  END IF;

  -- A calendar edit.
  IF n % 7 = 0 THEN
    SELECT i.id, i.uid, i.container_id INTO r FROM t_container_item i JOIN t_container c ON c.id = i.container_id
      WHERE c.container_type = 'calendar' ORDER BY i.id OFFSET (n * 31) % greatest(1, (SELECT count(*) FROM t_calendar_vevent)) LIMIT 1;
    IF FOUND THEN
      UPDATE t_calendar_vevent SET summary = summary || ' (modifié ' || n || ')', sequence = coalesce(sequence, 0) + 1
        WHERE item_id = r.id;
      c_ids := c_ids || r.container_id; i_ids := i_ids || r.id; i_uids := i_uids || r.uid; kinds := kinds || 1::smallint;
    END IF;
  END IF;

  -- The changelog of every change, each at the container's next version.
  FOR k IN 1 .. coalesce(array_length(c_ids, 1), 0) LOOP
    UPDATE t_container_sequence SET seq = seq + 1 WHERE container_id = c_ids[k] RETURNING seq INTO ver;
    IF kinds[k] <> 2 THEN
      UPDATE t_container_item SET version = ver, updated = now() WHERE id = i_ids[k];
    END IF;
    IF five THEN
      CALL proc_insert_t_changeset(ver, c_ids[k], i_uids[k], kinds[k], i_ids[k], 0);
    ELSE
      INSERT INTO t_container_changelog (version, container_id, item_uid, item_external_id, type, author, date, origin, item_id, weight_seed)
        VALUES (ver, c_ids[k], i_uids[k], NULL, kinds[k], 'system', now(), 'bm-lab-writer', i_ids[k], 0);
    END IF;
  END LOOP;
END
$writer$;
