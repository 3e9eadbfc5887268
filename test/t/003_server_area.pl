# The server area against a real standby and a real damaged page (issue 14):
#   - replication_lag on the primary: replay paused on the standby while 4 MB of WAL is written, lag threshold 1MB:
#     reported for that standby; not once replay resumed and caught up;
#   - replication_lag on the standby itself: replay paused: reported; not once resumed;
#   - replication_lag for synchronous_standby_names naming a standby that is not connected: critical; not once reset;
#   - standby_conflicts on the standby: a REPEATABLE READ query there loses to VACUUM on the primary
#     (max_standby_streaming_delay = 0, no hot_standby_feedback): reported for the database; none on the primary;
#   - checksum_failures in a cluster with data checksums whose table has a damaged page: critical; none in the
#     cluster without failures.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# the findings of one check as "severity object_name" lines
sub findings
{
    my ($node, $check, $settings) = @_;
    $settings //= '';
    return $node->safe_psql('postgres', qq{$settings
        SELECT severity || ' ' || object_name FROM apes.findings('server') WHERE check_id = '$check' ORDER BY 1});
}

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->start;
$primary->safe_psql('postgres', q{
    CREATE EXTENSION pg_apes_health;
    CREATE TABLE t (id int, pad text);
    INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 10000) g;
});
$primary->backup('backup');
# its walreceiver connects as application_name 'apes_standby' (the node's name)
my $standby = PostgreSQL::Test::Cluster->new('apes_standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->append_conf('postgresql.conf', qq{
max_standby_streaming_delay = 0
hot_standby_feedback = off
});
$standby->start;
$primary->wait_for_catchup($standby);

my $lag = q{SET pg_apes_health.replication_lag_max_bytes = '1MB';};
is(findings($primary, 'replication_lag', $lag), '', 'no replication_lag while the standby keeps up');

# replay paused: the primary sees the standby fall behind, the standby says its replay is paused
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_pause()');
$standby->poll_query_until('postgres', q{SELECT pg_get_wal_replay_pause_state() = 'paused'})
    or die 'replay did not pause';
$primary->safe_psql('postgres', q{INSERT INTO t SELECT g, repeat('x', 400) FROM generate_series(1, 10000) g});
$primary->poll_query_until('postgres', q{
    SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) > 1024 * 1024 AND flush_lsn = pg_current_wal_lsn()
      FROM pg_stat_replication WHERE application_name = 'apes_standby'}) or die 'the standby did not receive the WAL';
is(findings($primary, 'replication_lag', $lag), 'warning standby apes_standby',
    'the primary reports the standby whose replay is behind by over 1MB');
like($primary->safe_psql('postgres', qq{$lag SELECT summary FROM apes.findings('server') WHERE check_id = 'replication_lag'}),
    qr/^standby apes_standby( at \S+)? replays .* behind \(\d+ (kB|MB) of WAL not yet replayed/,
    'its summary gives the lag in time and bytes');
is(findings($standby, 'replication_lag'), 'warning (this standby)', 'the standby reports its replay paused');
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_resume()');
$primary->wait_for_catchup($standby, 'replay');
is(findings($primary, 'replication_lag', $lag), '', 'no replication_lag once replay resumed and caught up');
is(findings($standby, 'replication_lag'), '', 'and none on the standby');

# a synchronous standby that is not connected: every commit would wait
$primary->safe_psql('postgres', q{ALTER SYSTEM SET synchronous_standby_names = 'apes_missing'});
$primary->reload;
$primary->poll_query_until('postgres', q{SELECT current_setting('synchronous_standby_names') = 'apes_missing'})
    or die 'the setting was not reloaded';
is(findings($primary, 'replication_lag'), 'critical synchronous_standby_names',
    'synchronous_standby_names naming a standby that is not connected is critical');
$primary->safe_psql('postgres', 'ALTER SYSTEM RESET synchronous_standby_names');
$primary->reload;
$primary->poll_query_until('postgres', q{SELECT current_setting('synchronous_standby_names') = ''})
    or die 'the setting was not reset';
is(findings($primary, 'replication_lag'), '', 'and not once reset');

# a recovery conflict: a REPEATABLE READ snapshot on the standby, the rows it sees removed by VACUUM on the primary
is(findings($standby, 'standby_conflicts'), '', 'no standby_conflicts before a conflict');
my ($in, $out, $err) = ('', '', '');
my $reader = IPC::Run::start(
    [ 'psql', '-X', '-q', '-d', $standby->connstr('postgres'), '-c',
      'BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM t; SELECT pg_sleep(60); COMMIT;' ],
    '<', \$in, '>', \$out, '2>', \$err);
$standby->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%'
                                                                                       AND pid <> pg_backend_pid()})
    or die 'the standby query did not start';
$primary->safe_psql('postgres', 'DELETE FROM t; VACUUM t;');
$standby->poll_query_until('postgres', q{SELECT confl_snapshot > 0 FROM pg_stat_database_conflicts
                                          WHERE datname = 'postgres'}) or die 'no conflict was counted';
$reader->finish;
like($err, qr/canceling statement due to conflict with recovery|terminating connection due to conflict with recovery/,
    'the standby query was cancelled by the conflict');
$standby->safe_psql('postgres', 'SELECT pg_stat_force_next_flush()');
is(findings($standby, 'standby_conflicts'), 'warning database postgres', 'the standby reports standby_conflicts');
is(findings($primary, 'standby_conflicts'), '', 'the primary has none');

$standby->stop;
$primary->stop;

# data checksums: a damaged page read once is counted, and reported
my $checked = PostgreSQL::Test::Cluster->new('checksums');
$checked->init(extra => ['--data-checksums']);
$checked->start;
$checked->safe_psql('postgres', q{
    CREATE EXTENSION pg_apes_health;
    CREATE TABLE c (id int, pad text);
    INSERT INTO c SELECT g, md5(g::text) FROM generate_series(1, 2000) g;
    CHECKPOINT;
});
is(findings($checked, 'checksum_failures'), '', 'no checksum_failures before the damage');
my $file = $checked->data_dir . '/' . $checked->safe_psql('postgres', q{SELECT pg_relation_filepath('c')});
$checked->stop;
open(my $fh, '+<', $file) or die "open $file: $!";
binmode $fh;
seek($fh, 8192 + 4000, 0);    # block 1, inside its tuples: the header stays valid, the checksum does not
print $fh 'damaged bytes';
close $fh;
$checked->start;
my ($ret, $cout, $cerr) = $checked->psql('postgres', 'SELECT count(*) FROM c');
like($cerr, qr/page verification failed, calculated checksum|invalid page in block 1/,
    'reading the damaged page fails its checksum');
$checked->safe_psql('postgres', 'SELECT pg_stat_force_next_flush()');
is(findings($checked, 'checksum_failures'), 'critical database postgres',
    'checksum_failures reports the database as critical');
$checked->stop;

done_testing();
