/* pg_apes_health 0.5.0 -> 0.6.0: the server and maintenance areas, acknowledgements and growth (issue 14), index
 * advice checked against the workload's plans (issue 15), an HTML report and Prometheus metrics (issue 16).
 *
 * Safety: dropped and replaced functions are members of this extension, so this cannot adopt a planted object; the
 * new ones are created plainly, so a planted one makes the update fail.
 * test/upgrade_test.sh checks that an update from 0.1.0 gives the same objects and privileges as a fresh install.
 */
\echo Use "ALTER EXTENSION pg_apes_health UPDATE TO '0.6.0'" to load this file. \quit
