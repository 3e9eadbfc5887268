-- Installation: the control file's promises, the objects the extension owns, the version everywhere.
CREATE EXTENSION pg_apes_health;

SELECT superuser, trusted, relocatable, schema
  FROM pg_available_extension_versions
 WHERE name = 'pg_apes_health'
   AND version = (SELECT default_version FROM pg_available_extensions WHERE name = 'pg_apes_health');

-- The catalog, the control file and the loaded library agree on the version.
SELECT e.extversion = a.default_version AS catalog_matches_control,
       apes.version() = e.extversion AS library_matches_catalog
  FROM pg_extension e
  JOIN pg_available_extensions a ON a.name = e.extname
 WHERE e.extname = 'pg_apes_health';

-- Everything the extension owns.
SELECT pg_describe_object(classid, objid, objsubid) AS member
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_apes_health')
   AND deptype = 'e'
   -- the row types of its tables and views (and their array types) are listed as members from 17 on: left out
   AND NOT (classid = 'pg_type'::regclass
            AND EXISTS (SELECT 1 FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem
                         WHERE t.oid = objid AND (t.typrelid <> 0 OR e.typrelid <> 0)))
 ORDER BY 1;

-- Settings exist under the reserved prefix, with their defaults.
SELECT name, setting, unit FROM pg_settings WHERE name LIKE 'pg_apes_health.%' ORDER BY name;
SET pg_apes_health.no_such_setting = 1;

-- A second install fails; nothing is adopted.
CREATE EXTENSION pg_apes_health;
