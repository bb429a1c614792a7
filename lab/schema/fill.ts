/**
 * Rows for BlueMind's real schema (lab/schema/bluemind-{4,5}.sql), written as BlueMind writes them.
 *
 * Every container is created where `Containers.create` puts it
 * (`parent/core/net.bluemind.core.container.service/.../internal/Containers.java`): the types listed by
 * the `net.bluemind.core.container.sharding` extension (calendar, addressbook, todolist, notes,
 * replicated_mailboxes, mailbox_records, owner_subscriptions, container_flat_hierarchy, ...) of an owner
 * with a data location go to `bj-data`, everything else (directory, domains, the domain address book,
 * mailbox ACLs, free/busy) stays in `bj`; and `bj`'s `t_container_location` gets one row per container,
 * its location the server uid for the sharded ones and NULL for the others
 * (`ContainerStore.createOrUpdateContainerLocation`). Container ids are each database's own serial.
 *
 * Items are `t_container_item` rows; each creation or change is a changelog row: 4.x writes
 * `t_container_changelog` and its trigger `changeset_insert` keeps `t_container_changeset` (256 hash
 * partitions) up to date; 5.1 writes `t_changeset` (256 partitions) whose trigger moves deletions to
 * `q_changeset_cleanup` (item-store schema). Mail: one `t_message_body` per message, keyed by a 20-byte
 * bytea (BlueMind's body guid is the message's SHA-1; PostgreSQL 13 has no sha1(), the lab takes the first
 * 20 bytes of a sha256, same type and length), and one `t_mailbox_record` per message per folder, item
 * uid `<imap uid>.` (`LmtpMessageHandler.java`: `recs.create(rec.imapUid + ".", rec)`), system flags
 * as `MailboxItemFlag.System` (Answered 1, Flagged 2, Deleted 4, Draft 8, Seen 16). The same body is
 * filed in several folders (copies), and on 4.x, whose `t_mailbox_record` has no key nor unique index,
 * a few records are stored twice, as a replayed replication leaves them: the schema allows it, and a
 * copy must keep them. The conversation and counter tables are filled by BlueMind's own triggers.
 *
 * Deterministic: every value derives from the tag (seed and role), the plan's counts and SQL
 * expressions with a fixed order; no random(), no now().
 */

/** What to write; the counts are the generator's (lab/generate.ts fillDatabases). */
export interface FillPlan {
  /** The 5.1 schema (t_changeset, partitioned t_mailbox_record) rather than the 4.x one. */
  five: boolean;
  origin: boolean;
  /** Seed and role: every uid and value derives from it. */
  tag: string;
  domain: string;
  users: readonly { login: string; displayName: string }[];
  ip: string;
  fqdn: string;
  groups: number;
  mailshares: number;
  resources: number;
  bodies: number;
  records: number;
  /** Events per user calendar (a third of them recurring with an exception row). */
  events: number;
  /** Contacts per user address book. */
  contacts: number;
  utf8: boolean;
}

/** The server uid of the lab's single BlueMind node: every data location points to it. */
export const SERVER_UID = "bm-master";

function lit(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** A UUID-shaped uid derived from the tag and a label expression (SQL). */
function uuid(tag: string, label: string): string {
  return `md5(${lit(tag)} || ${label})::uuid::text`;
}

/** An integer in [0, 2^31) derived from the tag and a label expression (SQL). */
function h31(tag: string, label: string): string {
  return `(('x' || substr(md5(${lit(tag)} || ${label}), 1, 8))::bit(32)::int & 2147483647)`;
}

/** Temporary tables describing the directory and the per-entry containers, the same in both databases. */
function planTables(p: FillPlan): string {
  const t = p.tag;
  const userRows = p.users.map((u, i) => `(${i + 1}, ${lit(u.login)}, ${lit(u.displayName)})`).join(",\n  ");
  const created = p.origin ? "timestamp '2023-05-10 08:00:00'" : "timestamp '2024-06-18 08:00:00'";
  const d = lit(p.domain);
  const subtreePrefix = lit(`subtree_${p.domain.replace(/\./g, "_")}!`);
  return `
CREATE TEMP TABLE gen_entry (n int PRIMARY KEY, uid text NOT NULL UNIQUE, kind text NOT NULL, login text NOT NULL,
  displayname text NOT NULL, email text, created timestamp NOT NULL) ON COMMIT DROP;
INSERT INTO gen_entry
  SELECT idx, ${uuid(t, "':user:' || login")}, 'USER', login, displayname, login || '@' || ${d},
         ${created} + idx * interval '67 minutes'
  FROM (VALUES
  ${userRows}) AS u(idx, login, displayname);
INSERT INTO gen_entry SELECT 100000 + g, ${uuid(t, "':group:' || g")}, 'GROUP', 'groupe' || g, 'Groupe ' || g,
  'groupe' || g || '@' || ${d}, ${created} + g * interval '1 day' FROM generate_series(1, ${p.groups}) g;
INSERT INTO gen_entry SELECT 200000 + s, ${uuid(t, "':share:' || s")}, 'MAILSHARE', 'partage' || s,
  'Boîte partagée ' || s, 'partage' || s || '@' || ${d}, ${created} + s * interval '2 days'
  FROM generate_series(1, ${p.mailshares}) s;
INSERT INTO gen_entry SELECT 300000 + r, ${uuid(t, "':resource:' || r")}, 'RESOURCE', 'salle' || r,
  'Salle de réunion ' || r, 'salle' || r || '@' || ${d}, ${created} + r * interval '3 days'
  FROM generate_series(1, ${p.resources}) r;

-- Mail folders of each mailbox: name, weight (share of the mail), parent.
CREATE TEMP TABLE gen_folder (id serial PRIMARY KEY, entry_n int NOT NULL, unique_id text NOT NULL UNIQUE,
  name text NOT NULL, short_name text NOT NULL, parent text, weight int NOT NULL, lo bigint, hi bigint) ON COMMIT DROP;
INSERT INTO gen_folder (entry_n, unique_id, name, short_name, parent, weight)
  SELECT e.n, ${uuid(t, "':folder:' || e.uid || ':' || f.name")}, f.name, f.short, f.parent, f.weight
  FROM gen_entry e CROSS JOIN (VALUES
    (1, 'INBOX', 'INBOX', NULL, 40), (2, 'Sent', 'Sent', NULL, 15), (3, 'Drafts', 'Drafts', NULL, 2),
    (4, 'Trash', 'Trash', NULL, 8), (5, 'Junk', 'Junk', NULL, 3), (6, 'Outbox', 'Outbox', NULL, 0),
    (7, 'Archives', 'Archives', NULL, 6), (8, 'Archives/2023', '2023', 'Archives', 14),
    (9, 'Projets', 'Projets', NULL, 7)) AS f(ord, name, short, parent, weight)
  WHERE e.kind = 'USER' OR (e.kind = 'MAILSHARE' AND f.ord IN (1, 2, 4))
  ORDER BY e.n, f.ord;
UPDATE gen_folder f SET lo = c.hi - f.weight, hi = c.hi
  FROM (SELECT id, sum(weight) OVER (ORDER BY id) AS hi FROM gen_folder) c WHERE c.id = f.id;
CREATE INDEX ON gen_folder (lo, hi);

-- Containers that live in bj-data (sharded types of an owner with a data location).
CREATE TEMP TABLE gen_data_container (uid text PRIMARY KEY, type text NOT NULL, name text NOT NULL,
  owner text NOT NULL, dflt boolean NOT NULL, created timestamp NOT NULL, ord int NOT NULL) ON COMMIT DROP;
INSERT INTO gen_data_container
  SELECT c.uid, c.type, c.name, e.uid, c.dflt, e.created, e.n * 100 + c.ord
  FROM gen_entry e CROSS JOIN LATERAL (VALUES
    (1, 'calendar:Default:' || e.uid, 'calendar', 'Mon calendrier', true, e.kind = 'USER'),
    (2, 'book:Contacts_' || e.uid, 'addressbook', 'Mes contacts', true, e.kind = 'USER'),
    (3, 'book:CollectedContacts_' || e.uid, 'addressbook', 'Contacts collectés', false, e.kind = 'USER'),
    (4, 'todolist:default_' || e.uid, 'todolist', 'Mes tâches', true, e.kind = 'USER'),
    (5, 'notes:default_' || e.uid, 'notes', 'Mes notes', true, e.kind = 'USER'),
    (6, ${subtreePrefix} || CASE WHEN e.kind = 'USER' THEN 'user.' || replace(e.login, '.', '^') ELSE e.uid END,
        'replicated_mailboxes', e.login, true, e.kind IN ('USER', 'MAILSHARE')),
    (7, 'owner_subscriptions_' || e.uid || '_at_' || ${d}, 'owner_subscriptions', 'Subscriptions', true, e.kind = 'USER'),
    (8, 'container_flat_hierarchy_' || e.uid || '_at_' || ${d}, 'container_flat_hierarchy', 'Hierarchy', true,
        e.kind IN ('USER', 'MAILSHARE')),
    (9, 'calendar:' || e.uid, 'calendar', e.displayname, true, e.kind = 'RESOURCE')
  ) AS c(ord, uid, type, name, dflt, wanted)
  WHERE c.wanted;
INSERT INTO gen_data_container
  SELECT 'mbox_records_' || f.unique_id, 'mailbox_records', f.name, e.uid, false, e.created, 100000000 + f.id
  FROM gen_folder f JOIN gen_entry e ON e.n = f.entry_n;
`;
}

/** Changelog rows for every item of the given containers (4.x: through the changeset trigger; 5.1: t_changeset). */
function changes(p: FillPlan): string {
  const date = "i.updated";
  // Creation at the item's first version, an update at its current one when it changed since.
  if (!p.five) {
    return `
INSERT INTO t_container_changelog (version, container_id, item_uid, item_external_id, type, author, date, origin, item_id, weight_seed)
  SELECT v.version, i.container_id, i.uid, i.external_id, v.type, i.updatedby, ${date} - (v.type = 0)::int * interval '1 hour',
         'bm-core', i.id, 0
  FROM t_container_item i JOIN gen_version g ON g.id = i.id CROSS JOIN LATERAL (
    SELECT g.created_version AS version, 0::smallint AS type
    UNION ALL SELECT i.version, 1::smallint WHERE i.version <> g.created_version) v
  ORDER BY i.container_id, v.version;`;
  }
  return `
INSERT INTO t_changeset (type, version, container_id, item_id, weight_seed, date, item_uid)
  SELECT v.type, v.version, i.container_id, i.id, 0, ${date} - (v.type = 0)::int * interval '1 hour', i.uid
  FROM t_container_item i JOIN gen_version g ON g.id = i.id CROSS JOIN LATERAL (
    SELECT g.created_version AS version, 0::smallint AS type
    UNION ALL SELECT i.version, 1::smallint WHERE i.version <> g.created_version) v
  ORDER BY i.container_id, v.version;`;
}

/**
 * The items of a container get versions 1..n in creation order; a quarter of them were changed later
 * and carry a version above n (gen_version keeps both for the changelog).
 */
function itemVersions(): string {
  return `
CREATE TEMP TABLE gen_version ON COMMIT DROP AS
  SELECT id, rn AS created_version, CASE WHEN rn % 4 = 0 THEN n + rn / 4 ELSE rn END AS version
  FROM (SELECT id, row_number() OVER (PARTITION BY container_id ORDER BY id) AS rn,
               count(*) OVER (PARTITION BY container_id) AS n FROM t_container_item) r;
UPDATE t_container_item i SET version = v.version FROM gen_version v WHERE v.id = i.id;`;
}

const CONTAINER_COLUMNS =
  "uid, container_type, name, owner, createdby, updatedby, created, updated, defaultcontainer, domain_uid, readonly";

/** `bj`: directory, domains, server, system configuration, settings, bj's own containers and the routing. */
export function bjFillSql(p: FillPlan): string {
  const t = p.tag;
  const d = lit(p.domain);
  const created = p.origin ? "timestamp '2023-05-10 08:00:00'" : "timestamp '2024-06-18 08:00:00'";
  const ip = lit(p.ip);
  const install = `'bluemind-' || ${uuid(t, "':installation'")}`;
  return `
SET client_min_messages = warning;
${planTables(p)}

INSERT INTO t_container (${CONTAINER_COLUMNS}) VALUES
  ('domains_bluemind', 'domains', 'domains_bluemind', 'system', 'system', 'system', ${created}, ${created}, false, 'global.virt', false),
  (${install}, 'installation', 'installation', 'system', 'system', 'system', ${created}, ${created}, false, 'global.virt', false),
  ('global.virt', 'dir', 'global.virt', 'system', 'system', 'system', ${created}, ${created}, false, 'global.virt', false),
  (${d}, 'dir', ${d}, 'system', 'system', 'system', ${created}, ${created}, false, ${d}, false),
  ('addressbook_' || ${d}, 'addressbook', 'Annuaire', ${d}, 'system', 'system', ${created}, ${created}, true, ${d}, false);
INSERT INTO t_container (${CONTAINER_COLUMNS})
  SELECT c.uid, c.type, c.name, e.uid, 'system', 'system', e.created, e.created, true, ${d}, false
  FROM gen_entry e CROSS JOIN LATERAL (VALUES
    (1, 'mailbox:acls-' || e.uid, 'mailboxacl', e.login, e.kind IN ('USER', 'MAILSHARE')),
    (2, 'freebusy:' || e.uid, 'freebusy', 'freebusy', e.kind = 'USER')) AS c(ord, uid, type, name, wanted)
  WHERE c.wanted ORDER BY e.n, c.ord;
-- Where each container's rows are: NULL = this database (bj), else the data server's uid.
INSERT INTO t_container_location (container_uid, location) SELECT uid, NULL FROM t_container ORDER BY id;
INSERT INTO t_container_location (container_uid, location)
  SELECT uid, '${SERVER_UID}' FROM gen_data_container ORDER BY ord;

-- Items: the two domains, the server, the directory entries.
INSERT INTO t_container_item (container_id, uid, version, external_id, displayname, createdby, updatedby, created, updated, flags)
  SELECT c.id, v.uid, 0, NULL, v.uid, 'system', 'system', ${created}, ${created}, 0
  FROM t_container c JOIN (VALUES ('domains_bluemind', 'global.virt', 1), ('domains_bluemind', ${d}, 2),
    (NULL, '${SERVER_UID}', 3), ('global.virt', 'admin0_global.virt', 4), (${d}, ${d}, 5),
    (${d}, 'addressbook_' || ${d}, 6)) AS v(container, uid, ord)
    ON c.uid = coalesce(v.container, ${install}) ORDER BY v.ord;
INSERT INTO t_container_item (container_id, uid, version, external_id, displayname, createdby, updatedby, created, updated, flags)
  SELECT c.id, e.uid, 0, CASE WHEN e.n % 9 = 0 THEN 'ldap://' || e.login END, e.displayname, 'admin0_global.virt',
         'admin0_global.virt', e.created, e.created + (e.n % 40) * interval '1 day', 0
  FROM gen_entry e JOIN t_container c ON c.uid = ${d} ORDER BY e.n;

INSERT INTO t_domain (item_id, label, name, description, global, aliases, default_alias, properties)
  SELECT i.id, v.name, v.name, v.description, v.global, v.aliases, v.name, v.properties
  FROM t_container_item i JOIN (VALUES
    ('global.virt', 'global.virt', true, ARRAY[]::text[], ''::hstore),
    (${d}, 'Domaine du lab', false,
     ARRAY['mail.' || ${d}${p.origin ? ", 'ancien-domaine.example'" : ""}],
     hstore(ARRAY['mail_routing_relay', 'domain.max.users', 'mailbox.default.quota'],
            ARRAY[${p.origin ? "'smtp.relais.example'" : "''"}, '${p.users.length + 100}', '${p.origin ? 10485760 : 0}']))
  ) AS v(name, description, global, aliases, properties) ON i.uid = v.name
  WHERE i.container_id = (SELECT id FROM t_container WHERE uid = 'domains_bluemind');
INSERT INTO t_server (item_id, ip, fqdn, name, tags)
  SELECT id, ${ip}, ${lit(p.fqdn)}, '${SERVER_UID}',
         ARRAY['bm/core', 'bm/es', 'bm/pgsql', 'bm/pgsql-data', 'mail/imap', 'mail/smtp', 'bm/hps', 'bm/webmail', 'bm/nginx']
  FROM t_container_item WHERE uid = '${SERVER_UID}';
INSERT INTO t_systemconf (configuration) VALUES (hstore(
  ARRAY['host', 'hz-member-address', 'mynetworks', 'external-url', 'message_size_limit', 'relayhost', 'default-domain'],
  ARRAY[${ip}, ${ip}, '127.0.0.0/8 ' || ${ip} || '/32', 'bluemind.lab.test', '${p.origin ? 52428800 : 10240000}',
        ${p.origin ? "'[smtp.relais.example]:587'" : "''"}, ${d}]));

INSERT INTO t_directory_entry (kind, account_type, entry_uid, displayname, email, flag_hidden, flag_system, flag_archived,
    orgunit_item_id, datalocation, item_id)
  SELECT v.kind, NULL, v.uid, v.uid, v.email, v.hidden, true, false, NULL, NULL, i.id
  FROM t_container_item i JOIN (VALUES ('admin0_global.virt', 'USER', 'admin0@global.virt', true),
    (${d}, 'DOMAIN', NULL, false), ('addressbook_' || ${d}, 'ADDRESSBOOK', NULL, false)) AS v(uid, kind, email, hidden)
    ON i.uid = v.uid ORDER BY i.id;
INSERT INTO t_directory_entry (kind, account_type, entry_uid, displayname, email, flag_hidden, flag_system, flag_archived,
    orgunit_item_id, datalocation, item_id)
  SELECT e.kind, CASE WHEN e.kind = 'USER' THEN (CASE WHEN e.n % 11 = 0 THEN 'SIMPLE' ELSE 'FULL' END)::t_directory_entry_account_type END,
         e.uid, e.displayname, e.email, e.kind = 'GROUP' AND e.n % 4 = 0, false, e.kind = 'USER' AND e.n % 37 = 0, NULL,
         CASE WHEN e.kind <> 'GROUP' THEN '${SERVER_UID}' END, i.id
  FROM gen_entry e JOIN t_container_item i ON i.uid = e.uid ORDER BY e.n;
INSERT INTO t_mailbox (item_id, name, type, system, hidden, archived, routing, quota)
  SELECT i.id, e.login, lower(CASE e.kind WHEN 'MAILSHARE' THEN 'mailshare' ELSE e.kind END)::enum_mailbox_type, false,
         false, e.kind = 'USER' AND e.n % 37 = 0, 'internal',
         CASE WHEN ${h31(t, "':quota:' || e.uid")} % 4 = 0 THEN NULL ELSE 1048576 * (1 + e.n % 10) END
  FROM gen_entry e JOIN t_container_item i ON i.uid = e.uid WHERE e.kind IN ('USER', 'MAILSHARE', 'RESOURCE') ORDER BY e.n;
-- Addresses: the default one, and aliases for some (several rows per mailbox, no key).
INSERT INTO t_mailbox_email (item_id, left_address, right_address, all_aliases, is_default)
  SELECT i.id, a.left_address, ${d}, a.is_default, a.is_default
  FROM gen_entry e JOIN t_container_item i ON i.uid = e.uid CROSS JOIN LATERAL (VALUES
    (1, e.login, true, true), (2, replace(e.login, '.', '-'), false, e.kind = 'USER' AND e.n % 3 = 0),
    (3, 'contact-' || e.n, false, e.kind = 'USER' AND e.n % 7 = 0)) AS a(ord, left_address, is_default, wanted)
  WHERE a.wanted AND e.kind IN ('USER', 'MAILSHARE', 'RESOURCE', 'GROUP') ORDER BY e.n, a.ord;
INSERT INTO t_domain_user (item_id, login, password, password_lastchange, password_mustchange, password_neverexpires,
    archived, system, hidden, routing, server_id, properties, password_algorithm, mailbox_copy_guid)
  SELECT i.id, e.login, '{SSHA512}' || encode(sha256(convert_to(${lit(t)} || ':pw:' || e.login, 'UTF8')), 'base64'),
         e.created, false, e.n % 5 = 0, e.n % 37 = 0, false, false, 'internal', '${SERVER_UID}', ''::hstore, 'SSHA512', NULL
  FROM gen_entry e JOIN t_container_item i ON i.uid = e.uid WHERE e.kind = 'USER' ORDER BY e.n;
INSERT INTO t_group (item_id, container_id, name, description, hidden, hiddenmembers, mailarchived, server_id, properties)
  SELECT i.id, i.container_id, e.displayname, 'Groupe du lab', e.n % 4 = 0, false, false, '${SERVER_UID}', ''::hstore
  FROM gen_entry e JOIN t_container_item i ON i.uid = e.uid WHERE e.kind = 'GROUP' ORDER BY e.n;
INSERT INTO t_group_usermember (group_id, user_id)
  SELECT gi.id, ui.id FROM gen_entry g JOIN t_container_item gi ON gi.uid = g.uid
  JOIN gen_entry u ON u.kind = 'USER' AND (u.n + g.n) % 4 = 0 JOIN t_container_item ui ON ui.uid = u.uid
  WHERE g.kind = 'GROUP' ORDER BY gi.id, ui.id;
INSERT INTO t_group_flat_members (group_id, user_id) SELECT group_id, user_id FROM t_group_usermember ORDER BY 1, 2;
${
  p.five
    ? ""
    : `-- 4.x only (5.1 dropped t_subtree_uid).
INSERT INTO t_subtree_uid (domain_uid, mailbox_uid, mailbox_name, namespace)
  SELECT ${d}, e.uid, e.login, CASE WHEN e.kind = 'USER' THEN 'users' ELSE 'shared' END
  FROM gen_entry e WHERE e.kind IN ('USER', 'MAILSHARE') ORDER BY e.n;`
}
INSERT INTO t_settings_global (settings) VALUES (hstore(ARRAY['lang', 'timezone', 'date', 'default_app'],
  ARRAY['fr', 'Europe/Paris', 'dd/MM/yyyy', '/mail/']));
INSERT INTO t_settings_domain (item_id, settings)
  SELECT id, hstore(ARRAY['lang', 'timezone', 'date'], ARRAY['fr', 'Europe/Paris', 'dd/MM/yyyy'])
  FROM t_container_item WHERE uid = ${d} AND container_id = (SELECT id FROM t_container WHERE uid = 'domains_bluemind');
INSERT INTO t_settings_user (item_id, settings)
  SELECT i.id, hstore(ARRAY['lang', 'timezone', 'default_app', 'mail_signature'],
         ARRAY[CASE WHEN e.n % 5 = 0 THEN 'de' ELSE 'fr' END,
               CASE WHEN e.n % 13 = 0 THEN 'America/Montreal' ELSE 'Europe/Paris' END, '/mail/',
               '-- ' || e.displayname || E'\\n' || e.email])
  FROM gen_entry e JOIN t_container_item i ON i.uid = e.uid WHERE e.kind = 'USER' ORDER BY e.n;

-- ACLs: the owner has All on its containers; everyone reads the domain address book. A few entries are
-- granted twice (t_container_acl has no key: BlueMind's ACL store appends).
INSERT INTO t_container_acl (container_id, subject, verb, position)
  SELECT c.id, c.owner, 'All', 0 FROM t_container c WHERE c.container_type IN ('mailboxacl', 'freebusy') ORDER BY c.id;
INSERT INTO t_container_acl (container_id, subject, verb, position)
  SELECT c.id, ${d}, v.verb, v.pos FROM t_container c CROSS JOIN (VALUES ('Read', 0), ('Read', 1)) AS v(verb, pos)
  WHERE c.uid IN ('addressbook_' || ${d}) ORDER BY c.id, v.pos;
INSERT INTO t_container_acl (container_id, subject, verb, position)
  SELECT c.id, ${d}, 'Read', 1 FROM t_container c WHERE c.container_type = 'freebusy' ORDER BY c.id;

${itemVersions()}
${changes(p)}
INSERT INTO t_container_sequence (container_id, seq)
  SELECT container_id, max(version) FROM t_container_item GROUP BY container_id ORDER BY container_id;
DO $do$
BEGIN
  -- The lab's optional read-only role (lab/generate.ts OPTIONAL_READ_ROLE), when the lab made it.
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bj_readonly') THEN
    EXECUTE 'GRANT SELECT ON t_directory_entry, t_mailbox TO bj_readonly';
  END IF;
END
$do$;
SELECT setval('t_container_item_id_seq', (SELECT max(id) FROM t_container_item) + 50);
SELECT 'rows=' || (SELECT sum((xpath('/row/c/text()', query_to_xml('SELECT count(*) AS c FROM ' || c.oid::regclass, false, true, '')))[1]::text::bigint)
  FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r');
`;
}

/** `bj-data`: the sharded containers and their items: mail, calendars, contacts, tasks, notes; webmail users. */
export function bjDataFillSql(p: FillPlan): string {
  const t = p.tag;
  const d = lit(p.domain);
  const epoch = p.origin ? "timestamp '2024-01-01 00:00:00'" : "timestamp '2024-06-20 00:00:00'";
  const subjects = [
    "Compte rendu de réunion",
    "Facture à régler",
    "Re: Planning",
    "Grüße aus Köln",
    "Devis n°",
    "Congés",
    ...(p.utf8 ? ["Отчёт за квартал", "会議の議事録", "تقرير شهري"] : []),
  ]
    .map(lit)
    .join(", ");
  const nSubjects = p.utf8 ? 9 : 6;
  const guid = (n: string): string =>
    `substr(sha256(convert_to(${lit(t)} || ':body:' || ${n}, 'UTF8')), 1, 20)`;
  const record = p.five
    ? `item_id, subtree_id, container_id, imap_uid, conversation_id, last_updated, internal_date, system_flags, message_body_guid, other_flags`
    : `message_body_guid, imap_uid, mod_seq, last_updated, internal_date, system_flags, other_flags, container_id, conversation_id, item_id`;
  const recordValues = p.five
    ? `r.item_id, r.subtree_id, r.container_id, r.imap_uid, r.conversation_id, r.last_updated, r.internal_date, r.system_flags, r.guid, r.other_flags`
    : `r.guid, r.imap_uid, r.imap_uid + 1, r.last_updated, r.internal_date, r.system_flags, r.other_flags, r.container_id, r.conversation_id, r.item_id`;
  const userLogins = p.users.map((u, i) => `(${i + 1}, ${lit(u.login)})`).join(", ");
  return `
SET client_min_messages = warning;
${planTables(p)}

INSERT INTO t_container (${CONTAINER_COLUMNS})
  SELECT uid, type, name, owner, 'system', owner, created, created, dflt, ${d}, false FROM gen_data_container ORDER BY ord;
INSERT INTO t_container_acl (container_id, subject, verb, position)
  SELECT id, owner, 'All', 0 FROM t_container ORDER BY id;

-- Message bodies.
INSERT INTO t_message_body (guid, subject, structure, headers, recipients, message_id, references_header, date_header,
    size, preview, body_version, created)
  SELECT ${guid("b.i")},
         (ARRAY[${subjects}])[1 + b.i % ${nSubjects}] || ' #' || b.i,
         jsonb_build_object('mime', 'multipart/alternative', 'size', b.s, 'children', jsonb_build_array(
           jsonb_build_object('mime', 'text/plain', 'address', '1', 'charset', 'utf-8', 'size', b.s / 3),
           jsonb_build_object('mime', 'text/html', 'address', '2', 'charset', 'utf-8', 'size', b.s - b.s / 3))),
         jsonb_build_array(jsonb_build_object('name', 'X-Mailer', 'values', jsonb_build_array('BlueMind Lab'))),
         jsonb_build_array(jsonb_build_object('kind', 'Originator', 'dn', 'Correspondant ' || b.i % 97,
           'address', 'c' || b.i % 97 || '@example.org'), jsonb_build_object('kind', 'Primary', 'dn', NULL,
           'address', 'u' || b.i % 80 || '@' || ${d})),
         '<' || b.i || '.' || ${h31(t, "':mid:' || b.i")} || '@lab.example>',
         CASE WHEN b.i % 3 = 0 THEN ARRAY['<' || (b.i - 1) || '.' || ${h31(t, "':mid:' || (b.i - 1)")} || '@lab.example>'] END,
         ${epoch} + (b.i::bigint * 613 % 25920000) * interval '1 second',
         b.s, left('Bonjour, ' || repeat('contenu du message ', 10), 160), 1 + (b.i % 50 = 0)::int * 2,
         ${epoch} + (b.i::bigint * 613 % 25920000 + 30) * interval '1 second'
  FROM (SELECT i, 700 + ${h31(t, "':size:' || i")} % 262144 AS s FROM generate_series(1, ${p.bodies}) i) b
  ORDER BY b.i;

-- Mail folders: one item per folder in the mailbox's subtree container, and its replica row.
INSERT INTO t_container_item (container_id, uid, version, external_id, displayname, createdby, updatedby, created, updated, flags)
  SELECT c.id, f.unique_id, 0, NULL, f.name, e.uid, e.uid, e.created, e.created, 0
  FROM gen_folder f JOIN gen_entry e ON e.n = f.entry_n
  JOIN gen_data_container g ON g.owner = e.uid AND g.type = 'replicated_mailboxes' JOIN t_container c ON c.uid = g.uid
  ORDER BY f.id;

-- Records: record r goes to the folder whose weight range holds a hash of r; its body is one of the
-- bodies (several records share one: the same message in several folders).
CREATE TEMP TABLE gen_record ON COMMIT DROP AS
  SELECT r.i, f.id AS folder, ${guid("(1 + (r.i::bigint * 7919) % " + p.bodies + ")")} AS guid,
         row_number() OVER (PARTITION BY f.id ORDER BY r.i) AS imap_uid,
         (CASE WHEN r.i % 3 <> 0 THEN 16 ELSE 0 END) | (CASE WHEN r.i % 11 = 0 THEN 1 ELSE 0 END)
           | (CASE WHEN r.i % 17 = 0 THEN 2 ELSE 0 END) | (CASE WHEN r.i % 97 = 0 THEN 4 ELSE 0 END) AS system_flags,
         CASE WHEN r.i % 13 = 0 THEN ARRAY['$Forwarded'] WHEN r.i % 29 = 0 THEN ARRAY['$label1', 'Important'] END AS other_flags,
         ${epoch} + (r.i::bigint * 977 % 25920000) * interval '1 second' AS internal_date,
         ${h31(t, "':conv:' || ((1 + (r.i::bigint * 7919) % " + p.bodies + ") / 3)")}::bigint AS conversation_id
  FROM generate_series(1, ${p.records}) r(i)
  JOIN gen_folder f ON ${h31(t, "':rec:' || r.i")}::bigint % (SELECT max(hi) FROM gen_folder) >= f.lo
                    AND ${h31(t, "':rec:' || r.i")}::bigint % (SELECT max(hi) FROM gen_folder) < f.hi;
INSERT INTO t_container_item (container_id, uid, version, external_id, displayname, createdby, updatedby, created, updated, flags)
  SELECT c.id, r.imap_uid || '.', 0, NULL, NULL, 'system', 'system', r.internal_date, r.internal_date + interval '1 hour',
         (r.system_flags & 4 <> 0)::int * 2 | (r.system_flags & 16 <> 0)::int
  FROM gen_record r JOIN gen_folder f ON f.id = r.folder JOIN t_container c ON c.uid = 'mbox_records_' || f.unique_id
  ORDER BY c.id, r.imap_uid;
INSERT INTO t_mailbox_record (${record})
  SELECT ${recordValues}
  FROM (SELECT g.guid, g.imap_uid, g.internal_date, g.internal_date + interval '1 hour' AS last_updated, g.system_flags,
               g.other_flags, c.id AS container_id, g.conversation_id, i.id AS item_id, s.id AS subtree_id, g.i
        FROM gen_record g JOIN gen_folder f ON f.id = g.folder JOIN gen_entry e ON e.n = f.entry_n
        JOIN t_container c ON c.uid = 'mbox_records_' || f.unique_id
        JOIN gen_data_container sd ON sd.owner = e.uid AND sd.type = 'replicated_mailboxes'
        JOIN t_container s ON s.uid = sd.uid
        JOIN t_container_item i ON i.container_id = c.id AND i.uid = g.imap_uid || '.') r
  ORDER BY r.container_id, r.imap_uid;
${
  p.five
    ? ""
    : `-- 4.x: t_mailbox_record has no key; a few records stored twice (a replayed replication), kept by a copy.
INSERT INTO t_mailbox_record (${record})
  SELECT ${record} FROM t_mailbox_record WHERE imap_uid % 53 = 7 ORDER BY container_id, imap_uid;`
}
INSERT INTO t_mailbox_replica (short_name, parent_uid, name, last_uid, highest_mod_seq, recent_uid, recent_time,
    last_append_date, pop3_last_login, uid_validity, acls, options, sync_crc, quotaroot, xconv_mod_seq, unique_id,
    container_id, item_id)
  SELECT f.short_name, (SELECT p2.unique_id FROM gen_folder p2 WHERE p2.entry_n = f.entry_n AND p2.name = f.parent),
         f.name, coalesce(m.last_uid, 0), coalesce(m.last_uid, 0) + 1, coalesce(m.last_uid, 0), coalesce(m.last_date, ${epoch}),
         coalesce(m.last_date, ${epoch}), timestamp '1970-01-01 00:00:00', 1700000000 + f.id,
         jsonb_build_array(jsonb_build_object('subject', e.uid || '@' || ${d}, 'rights', 'lrswipkxtecdan')),
         'P', ${h31(t, "':crc:' || f.unique_id")}, CASE WHEN e.kind = 'USER' THEN ${d} || '!user.' || e.login END,
         0, f.unique_id, i.container_id, i.id
  FROM gen_folder f JOIN gen_entry e ON e.n = f.entry_n JOIN t_container_item i ON i.uid = f.unique_id
  LEFT JOIN (SELECT folder, max(imap_uid) AS last_uid, max(internal_date) AS last_date FROM gen_record GROUP BY folder) m
    ON m.folder = f.id
  ORDER BY f.id;

-- Calendars: events (a third recurring weekly, each of those with one moved occurrence: a second row
-- with the same item_id and a recurrence id), and the resources' bookings.
CREATE TEMP TABLE gen_event ON COMMIT DROP AS
  SELECT c.id AS container_id, g.owner, ev.k, ${uuid(t, "':event:' || g.uid || ':' || ev.k")} AS uid,
         ${epoch} + ((${h31(t, "':evt:' || g.uid || ev.k")} % 4000) * interval '1 hour') AS start
  FROM gen_data_container g JOIN t_container c ON c.uid = g.uid
  CROSS JOIN generate_series(1, CASE WHEN g.uid LIKE 'calendar:Default:%' THEN ${p.events} ELSE ${Math.max(1, Math.round(p.events / 2))} END) ev(k)
  WHERE g.type = 'calendar';
INSERT INTO t_container_item (container_id, uid, version, external_id, displayname, createdby, updatedby, created, updated, flags)
  SELECT container_id, uid || '.ics', 0, uid, 'Réunion ' || k, owner, owner, start - interval '3 days', start - interval '1 day', 0
  FROM gen_event ORDER BY container_id, k;
INSERT INTO t_calendar_vevent (dtstart_timestamp, dtstart_timezone, dtstart_precision, dtend_timestamp, dtend_timezone,
    dtend_precision, summary, location, description, class, transparency, status, priority, organizer_cn, organizer_mailto,
    rrule_frequency, rrule_interval, recurid_timestamp, recurid_timezone, recurid_precision, sequence, draft,
    valarm_action, valarm_trigger, item_id)
  SELECT v.start, 'Europe/Paris', 'DateTime', v.start + interval '1 hour', 'Europe/Paris', 'DateTime',
         'Réunion ' || v.k, CASE WHEN v.k % 2 = 0 THEN 'Salle ' || v.k % 5 END, 'Ordre du jour n°' || v.k,
         CASE WHEN v.k % 9 = 0 THEN 'Private' ELSE 'Public' END::t_icalendar_class, 'Opaque', 'Confirmed', 5,
         'Organisateur', v.owner || '@' || ${d},
         CASE WHEN v.k % 3 = 0 AND x.n = 0 THEN 'WEEKLY'::t_icalendar_rrule_frequency END, CASE WHEN v.k % 3 = 0 AND x.n = 0 THEN 1 END,
         CASE WHEN x.n = 1 THEN v.start + interval '7 days' END, CASE WHEN x.n = 1 THEN 'Europe/Paris' END,
         CASE WHEN x.n = 1 THEN 'DateTime'::e_datetime_precision END, x.n, false,
         ARRAY['Display']::t_icalendar_valarm_action[], ARRAY[-900], i.id
  FROM gen_event v JOIN t_container_item i ON i.container_id = v.container_id AND i.uid = v.uid || '.ics'
  CROSS JOIN generate_series(0, 1) x(n) WHERE x.n = 0 OR v.k % 3 = 0
  ORDER BY i.id, x.n;

-- Address books: contacts in the default one, collected contacts in the other.
CREATE TEMP TABLE gen_card ON COMMIT DROP AS
  SELECT c.id AS container_id, g.owner, k, ${uuid(t, "':card:' || g.uid || ':' || k")} AS uid,
         g.uid LIKE 'book:Collected%' AS collected
  FROM gen_data_container g JOIN t_container c ON c.uid = g.uid
  CROSS JOIN generate_series(1, CASE WHEN g.uid LIKE 'book:Collected%' THEN ${Math.max(1, Math.round(p.contacts / 2))} ELSE ${p.contacts} END) k
  WHERE g.type = 'addressbook';
INSERT INTO t_container_item (container_id, uid, version, external_id, displayname, createdby, updatedby, created, updated, flags)
  SELECT container_id, uid, 0, NULL, 'Contact ' || k, owner, owner, ${epoch} + k * interval '1 day', ${epoch} + k * interval '2 days', 0
  FROM gen_card ORDER BY container_id, k;
INSERT INTO t_addressbook_vcard (kind, source, formated_name, familynames, givennames, email, email_parameters, tel,
    tel_parameters, company, note, categories, item_id)
  SELECT 'individual', NULL, 'Contact ' || v.k || ' ' || v.owner, 'Nom' || v.k, 'Prénom' || v.k,
         ARRAY['contact' || v.k || '@example.org'], ARRAY['TYPE=work'],
         CASE WHEN v.collected THEN NULL ELSE ARRAY['+33 1 23 45 ' || lpad((v.k % 100)::text, 2, '0') || ' 00'] END,
         CASE WHEN v.collected THEN NULL ELSE ARRAY['TYPE=voice'] END,
         CASE WHEN v.k % 4 = 0 THEN 'Société ' || v.k % 7 END, NULL, NULL, i.id
  FROM gen_card v JOIN t_container_item i ON i.container_id = v.container_id AND i.uid = v.uid
  ORDER BY i.id;

-- Tasks and notes.
INSERT INTO t_container_item (container_id, uid, version, external_id, displayname, createdby, updatedby, created, updated, flags)
  SELECT c.id, ${uuid(t, "':todo:' || g.uid || ':' || k")}, 0, NULL, 'Tâche ' || k, g.owner, g.owner,
         ${epoch} + k * interval '5 days', ${epoch} + k * interval '6 days', 0
  FROM gen_data_container g JOIN t_container c ON c.uid = g.uid CROSS JOIN generate_series(1, 2) k
  WHERE g.type = 'todolist' ORDER BY c.id, k;
INSERT INTO t_todolist_vtodo (uid, dtstart_timestamp, dtstart_timezone, dtstart_precision, due_timestamp, due_timezone,
    due_precision, summary, status, priority, percent, item_id)
  SELECT i.uid, i.created, 'Europe/Paris', 'DateTime', i.created + interval '7 days', 'Europe/Paris', 'Date',
         i.displayname, CASE WHEN i.id % 2 = 0 THEN 'Completed' ELSE 'NeedsAction' END::t_icalendar_status, 3,
         CASE WHEN i.id % 2 = 0 THEN 100 ELSE 0 END, i.id
  FROM t_container_item i JOIN t_container c ON c.id = i.container_id WHERE c.container_type = 'todolist' ORDER BY i.id;
INSERT INTO t_container_item (container_id, uid, version, external_id, displayname, createdby, updatedby, created, updated, flags)
  SELECT c.id, ${uuid(t, "':note:' || g.uid")}, 0, NULL, 'Note', g.owner, g.owner, ${epoch}, ${epoch} + interval '1 day', 0
  FROM gen_data_container g JOIN t_container c ON c.uid = g.uid WHERE g.type = 'notes' ORDER BY c.id;
INSERT INTO t_notes_vnote (item_id, body, subject, width, height, posx, posy, color)
  SELECT i.id, 'Penser à ' || i.id, 'Note', 200, 150, 10, 10, 'YELLOW'
  FROM t_container_item i JOIN t_container c ON c.id = i.container_id WHERE c.container_type = 'notes' ORDER BY i.id;

${itemVersions()}
${changes(p)}
-- A few deleted items: their changelog says so (the item rows are gone).
${
  p.five
    ? `INSERT INTO t_changeset (type, version, container_id, item_id, weight_seed, date, item_uid)
  SELECT 2, s.seq + 1, s.container_id, s.max_id + 1000000, 0, ${epoch} + interval '200 days', 'gone-' || s.container_id
  FROM (SELECT container_id, max(version) AS seq, max(id) AS max_id FROM t_container_item GROUP BY container_id) s
  WHERE s.container_id % 5 = 0 ORDER BY s.container_id;`
    : `INSERT INTO t_container_changelog (version, container_id, item_uid, item_external_id, type, author, date, origin, item_id, weight_seed)
  SELECT s.seq + 1, s.container_id, 'gone-' || s.container_id, NULL, 2, 'system', ${epoch} + interval '200 days', 'bm-core',
         s.max_id + 1000000, 0
  FROM (SELECT container_id, max(version) AS seq, max(id) AS max_id FROM t_container_item GROUP BY container_id) s
  WHERE s.container_id % 5 = 0 ORDER BY s.container_id;`
}
INSERT INTO t_container_sequence (container_id, seq)
  SELECT c.id, coalesce(max(i.version), 0) + (c.id % 5 = 0)::int FROM t_container c LEFT JOIN t_container_item i ON i.container_id = c.id
  GROUP BY c.id ORDER BY c.id;

-- Roundcube's users (the webmail keeps its own tables in the same database).
INSERT INTO rc_users (username, mail_host, alias, created, last_login, language, preferences)
  SELECT login || '@' || ${d}, ${lit(p.ip)}, '', ${epoch} + idx * interval '1 hour', ${epoch} + idx * interval '1 day',
         CASE WHEN idx % 5 = 0 THEN 'de_DE' ELSE 'fr_FR' END,
         'a:2:{s:8:"timezone";s:12:"Europe/Paris";s:9:"page_size";i:' || (50 + idx % 3 * 25) || ';}'
  FROM (VALUES ${userLogins}) AS u(idx, login) ORDER BY idx;

-- Sequences past their row counts, as on a server that has lived.
SELECT setval('t_container_item_id_seq', (SELECT coalesce(max(id), 0) FROM t_container_item) + 1000);
SELECT setval('t_container_id_seq', (SELECT coalesce(max(id), 0) FROM t_container) + 25);
SELECT setval('rc_user_ids', (SELECT coalesce(max(user_id), 0) FROM rc_users) + 17);
SELECT 'rows=' || (SELECT sum((xpath('/row/c/text()', query_to_xml('SELECT count(*) AS c FROM ' || c.oid::regclass, false, true, '')))[1]::text::bigint)
  FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r');
`;
}
