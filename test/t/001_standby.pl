# Hot standby: a primary and a streaming standby on this machine (PostgreSQL::Test::Cluster).  On the standby every
# read-only function answers, apes.snapshot() and apes.purge() do nothing and say so, and page readers skip unlogged
# relations (their files are empty there) with a notice instead of failing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_stat_statements'");
$primary->start;
$primary->safe_psql('postgres', q{
    CREATE EXTENSION pg_stat_statements;
    CREATE EXTENSION pg_apes_health;
    CREATE TABLE t (id int PRIMARY KEY, v text);
    INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
    DELETE FROM t WHERE id % 3 = 0;
    CREATE UNLOGGED TABLE u (id int PRIMARY KEY);
    INSERT INTO u SELECT generate_series(1, 1000);
    VACUUM ANALYZE;
    SELECT apes.snapshot();
});
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');

# every read-only function answers on the standby
for my $q (
    q{SELECT count(*) >= 0 FROM apes.findings()},
    q{SELECT apes.health_json() ? 'status'},
    q{SELECT length(apes.health_report()) > 0},
    q{SELECT count(*) > 0 FROM apes.table_bloat('t', exact => true)},
    q{SELECT count(*) > 0 FROM apes.table_bloat('t')},
    q{SELECT count(*) = 1 FROM apes.index_bloat('t_pkey', exact => true)},
    q{SELECT count(*) > 0 FROM apes.bloat_estimates},
    q{SELECT count(*) >= 0 FROM apes.vacuum_horizon},
    q{SELECT count(*) > 0 FROM apes.wraparound},
    q{SELECT count(*) >= 0 FROM apes.pools},
    q{SELECT count(*) = 1 FROM apes.connection_capacity() WHERE scope = 'server'},
    q{SELECT count(*) = 0 FROM apes.blocking},
    q{SELECT count(*) = 1 FROM apes.connection_churn()},
    q{SELECT count(*) >= 0 FROM apes.query_stats()},
    q{SELECT count(*) > 0 FROM apes.snapshot},
    q{SELECT apes.report_html() LIKE '%<figure class="chart"%'},
    q{SELECT apes.metrics() LIKE '%apes_snapshot_age_seconds %'},
    q{SELECT count(*) > 0 FROM apes.metric_samples('{apes_replication_lag_bytes,apes_replication_slot_retained_bytes,apes_findings}')})
{
    is($standby->safe_psql('postgres', $q), 't', "on the standby: $q");
}

# writers do nothing on a standby, and say so
my ($ret, $out, $err) = $standby->psql('postgres', 'SELECT apes.snapshot() IS NULL');
is($out, 't', 'apes.snapshot() returns NULL on a standby');
like($err, qr/does nothing on a standby/, 'apes.snapshot() says why');
($ret, $out, $err) = $standby->psql('postgres', 'SELECT apes.purge()');
is($out, '0', 'apes.purge() removes nothing on a standby');
like($err, qr/does nothing on a standby/, 'apes.purge() says why');

# unlogged relations have no data on a standby: skipped with a notice, no error
($ret, $out, $err) = $standby->psql('postgres', q{SELECT count(*) FROM apes.table_bloat('u')});
is($ret, 0, 'table_bloat of an unlogged table does not fail on a standby');
is($out, '0', 'and returns no rows');
like($err, qr/skipping unlogged relation "u" during recovery/, 'with a notice');
($ret, $out, $err) = $standby->psql('postgres', q{SELECT count(*) FROM apes.index_bloat('u_pkey')});
is($ret, 0, 'index_bloat of an unlogged index does not fail on a standby');
like($err, qr/skipping unlogged index "u_pkey" during recovery/, 'with a notice');

# the bloat findings never read unlogged relations there either
is($standby->safe_psql('postgres',
    q{SET pg_apes_health.bloat_min_size = 0; SELECT count(*) FROM apes.findings('bloat') WHERE object_name = 'public.u'}),
    '0', 'no bloat finding for an unlogged table on a standby');

$standby->stop;
$primary->stop;
done_testing();
