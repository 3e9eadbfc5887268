-- docs/checks.md, generated from the registry of checks (apes.checks, src/checks.h): make docs writes it, and
-- make test compares it with the committed file.  Run with psql -X -At in a database with the extension.
SELECT '# Checks

Every check pg_apes_health can report, one line each, from its registry: `src/checks.h`, shown by the view
`apes.checks`. This page is generated from that view by `make docs`, and `make test` fails when it differs. The usual
severity is the one a finding of the check normally has; some findings raise or lower it, and their evidence says why.
Each check''s rules, near-misses included, are in the document its last column links to.

| check | area | usual severity | what it finds | settings | rules |
|---|---|---|---|---|---|'
UNION ALL
(SELECT format('| `%s` | %s | %s | %s | %s | [%s](%s) |',
              check_id, area, default_severity, replace(description, '|', '\|'),
              coalesce((SELECT string_agg(format('`%s`', s), ', ') FROM unnest(settings) s), ''),
              regexp_replace(documentation, '^docs/([^#]*)#.*$', '\1'),
              regexp_replace(documentation, '^docs/', ''))
   FROM apes.checks);
