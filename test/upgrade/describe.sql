-- Describe everything pg_apes_health installed, without OIDs, one sorted line per fact: the text two databases must
-- share when one was installed fresh and the other updated from an older version (test/upgrade_test.sh).
-- Covered: every member object (pg_describe_object), function definitions with their attributes and SET clauses,
-- tables, views and sequences with columns, defaults, identities, constraints, indexes, row-level security and
-- policies, comments, privileges (the live ACLs and the initial ones pg_dump starts from, pg_init_privs), the schema,
-- and which tables pg_dump keeps (extconfig/extcondition).
-- an ACL as text, its items sorted (their order carries no meaning)
CREATE FUNCTION pg_temp.acl(a aclitem[]) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT coalesce((SELECT string_agg(i::text, ',' ORDER BY i::text) FROM unnest(a) i), 'default') $$;
WITH ext AS (SELECT oid, extconfig, extcondition, extnamespace, extrelocatable FROM pg_extension
              WHERE extname = 'pg_apes_health'),
member AS (SELECT d.classid, d.objid FROM pg_depend d, ext
            WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
              -- the row types of its tables and views (and their arrays) are members from 17 on: left out, they
              -- follow their relation
              AND NOT (d.classid = 'pg_type'::regclass
                       AND EXISTS (SELECT 1 FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem
                                    WHERE t.oid = d.objid AND (t.typrelid <> 0 OR e.typrelid <> 0)))),
facts(line) AS (
    -- members, by their identity
    SELECT 'member ' || pg_describe_object(m.classid, m.objid, 0) FROM member m
    UNION ALL
    -- functions: the whole definition (body, arguments, defaults, volatility, strictness, SET, cost, rows)
    SELECT 'function ' || p.oid::regprocedure || E'\n' || pg_get_functiondef(p.oid)
      FROM member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure || ' parallel ' || p.proparallel::text || ' leakproof ' || p.proleakproof
           || ' acl ' || pg_temp.acl(p.proacl) || ' comment ' || coalesce(obj_description(p.oid, 'pg_proc'), '')
      FROM member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    UNION ALL
    -- relations: kind, persistence, options, row-level security, privileges, comment, view definition
    SELECT 'relation ' || c.oid::regclass || ' kind ' || c.relkind::text || ' persistence ' || c.relpersistence::text
           || ' options ' || coalesce(c.reloptions::text, '') || ' rls ' || c.relrowsecurity || '/' || c.relforcerowsecurity
           || ' acl ' || pg_temp.acl(c.relacl) || ' comment ' || coalesce(obj_description(c.oid, 'pg_class'), '')
           || CASE WHEN c.relkind = 'v' THEN E'\n' || pg_get_viewdef(c.oid) ELSE '' END
      FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    UNION ALL
    -- columns in their order (dropped columns skipped; the position among live columns is what SELECT * shows)
    SELECT 'column ' || c.oid::regclass || ' #' || row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum) || ' '
           || quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
           || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
           || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
           || ' acl ' || pg_temp.acl(a.attacl) || ' comment ' || coalesce(col_description(c.oid, a.attnum), '')
      FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
    UNION ALL
    -- indexes of member tables (not members themselves)
    SELECT 'index ' || pg_get_indexdef(i.indexrelid) || ' comment ' || coalesce(obj_description(i.indexrelid, 'pg_class'), '')
      FROM member m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
    UNION ALL
    SELECT 'constraint ' || co.conrelid::regclass || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
      FROM member m JOIN pg_constraint co ON m.classid = 'pg_class'::regclass AND co.conrelid = m.objid
    UNION ALL
    SELECT 'policy ' || po.polrelid::regclass || ' ' || po.polname || ' ' || po.polcmd::text || ' permissive ' || po.polpermissive
           || ' roles ' || (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END, ',' ORDER BY 1)
                              FROM unnest(po.polroles) r)
           || ' using ' || coalesce(pg_get_expr(po.polqual, po.polrelid), '')
           || ' check ' || coalesce(pg_get_expr(po.polwithcheck, po.polrelid), '')
      FROM member m JOIN pg_policy po ON m.classid = 'pg_class'::regclass AND po.polrelid = m.objid
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(t.oid)
      FROM member m JOIN pg_trigger t ON m.classid = 'pg_class'::regclass AND t.tgrelid = m.objid AND NOT t.tgisinternal
    UNION ALL
    SELECT 'sequence ' || s.seqrelid::regclass || ' ' || format_type(s.seqtypid, NULL) || ' ' || s.seqstart || ' '
           || s.seqincrement || ' ' || s.seqmin || ' ' || s.seqmax || ' ' || s.seqcache || ' ' || s.seqcycle
      FROM member m JOIN pg_sequence s ON m.classid = 'pg_class'::regclass AND s.seqrelid = m.objid
    UNION ALL
    -- the initial privileges pg_dump compares against (recorded for what the scripts granted)
    SELECT 'initial privileges ' || pg_describe_object(ip.classoid, ip.objoid, ip.objsubid) || ' ' || ip.privtype::text
           || ' ' || pg_temp.acl(ip.initprivs)
      FROM pg_init_privs ip
     WHERE (ip.classoid, ip.objoid) IN (SELECT classid, objid FROM member)
        OR (ip.classoid = 'pg_namespace'::regclass AND ip.objoid = (SELECT extnamespace FROM ext))
    UNION ALL
    SELECT 'schema ' || n.nspname || ' owner is superuser ' || r.rolsuper || ' acl ' || pg_temp.acl(n.nspacl)
           || ' comment ' || coalesce(obj_description(n.oid, 'pg_namespace'), '')
      FROM ext JOIN pg_namespace n ON n.oid = ext.extnamespace JOIN pg_roles r ON r.oid = n.nspowner
    UNION ALL
    SELECT 'dumped with the extension ' || t.cfg::regclass || ' where ' || coalesce(t.cond, '')
      FROM ext, unnest(ext.extconfig, ext.extcondition) AS t(cfg, cond)
)
SELECT line FROM facts ORDER BY line COLLATE "C";
