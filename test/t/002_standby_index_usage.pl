# Index usage on standbys (issue 15): a standby keeps its own scan counters, so an index that only the standby's
# queries scan looks never scanned on the primary.  With pg_apes_health.standby_dsns naming the standby, index_unused
# adds its scans: the index is not reported, and the evidence lists the scans per node.  A node that cannot be read
# (a closed port) or is not a standby of this server (the primary itself) is named in the summary, and confidence
# drops; only superusers set it.
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
    CREATE TABLE reports (id int PRIMARY KEY, region int, total numeric);
    INSERT INTO reports SELECT g, g % 100, g FROM generate_series(1, 20000) g;
    CREATE INDEX reports_region ON reports (region);     -- scanned on the standby only
    CREATE INDEX reports_total ON reports (total);       -- scanned nowhere
    ANALYZE reports;
});
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

# the standby's reporting queries scan reports_region (each session's counts reach the statistics when it ends)
for my $r (1 .. 5)
{
    $standby->safe_psql('postgres',
        "SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM reports WHERE region = $r");
}
is($standby->safe_psql('postgres',
    q{SELECT idx_scan > 0 FROM pg_stat_user_indexes WHERE indexrelname = 'reports_region'}),
    't', 'the standby counted its scans of reports_region');
is($primary->safe_psql('postgres',
    q{SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'reports_region'}),
    '0', 'the primary never scanned it');

my $unused = q{SET pg_apes_health.unused_index_min_size = 0;
    SELECT object_name FROM apes.findings('index') WHERE check_id = 'index_unused' AND object_name LIKE 'public.reports%'
     ORDER BY 1};
my $standby_dsn = 'host=' . $standby->host . ' port=' . $standby->port;

# without standby_dsns: the primary's counters alone call both indexes unused
is($primary->safe_psql('postgres', $unused), "public.reports_region\npublic.reports_total",
    'without standby_dsns both indexes look unused');

# with the standby named: its scans are added, reports_region is not unused; reports_total still is
my $with_standby = "SET pg_apes_health.standby_dsns = '$standby_dsn';";
is($primary->safe_psql('postgres', $with_standby . $unused), 'public.reports_total',
    'with standby_dsns the index scanned on the standby is not reported unused');
is($primary->safe_psql('postgres', $with_standby . q{SET pg_apes_health.unused_index_min_size = 0;
    SELECT evidence->'scans_per_node' FROM apes.findings('index') WHERE object_name = 'public.reports_total'}),
    '{"standby 1": 0, "this server": 0}', 'the evidence lists the scans per node');
like($primary->safe_psql('postgres', $with_standby . q{SET pg_apes_health.unused_index_min_size = 0;
    SELECT summary FROM apes.findings('index') WHERE object_name = 'public.reports_total'}),
    qr/on this server and its 1 standby;/, 'the summary says the standby was counted');

# a node that cannot be read: named in the summary and the evidence, confidence a step lower
my $closed_port = PostgreSQL::Test::Cluster::get_free_port();
my $with_dead = "SET pg_apes_health.standby_dsns = '$standby_dsn; host=127.0.0.1 port=$closed_port';"
  . "SET pg_apes_health.standby_timeout = '5s'; SET pg_apes_health.unused_index_min_size = 0;";
my $trusted = 'SET pg_apes_health.stats_trusted_age = 0;';   # confidence from the window alone: high
my ($conf_ok) = $primary->safe_psql('postgres', $trusted . $with_standby . q{SET pg_apes_health.unused_index_min_size = 0;
    SELECT confidence FROM apes.findings('index') WHERE object_name = 'public.reports_total'});
my $row = $primary->safe_psql('postgres', $trusted . $with_dead
    . q{SELECT confidence || '|' || summary || '|' || (evidence->'nodes_unread'->0->>'node')
          FROM apes.findings('index') WHERE object_name = 'public.reports_total'});
my ($conf_dead, $summary_dead, $node_dead) = split /\|/, $row;
like($summary_dead, qr/could not read standby 2 \(/, 'the summary names the standby that could not be read');
is($node_dead, 'standby 2', 'so does the evidence');
is("$conf_ok -> $conf_dead", 'high -> medium', 'and confidence drops a step');
is($primary->safe_psql('postgres', $with_dead . $unused), 'public.reports_total',
    'the standby that could be read still counts');

# the primary listed as a standby: refused (its scans are this server's own), not counted twice
my $primary_dsn = 'host=' . $primary->host . ' port=' . $primary->port;
like($primary->safe_psql('postgres', "SET pg_apes_health.standby_dsns = '$primary_dsn';"
      . q{SET pg_apes_health.unused_index_min_size = 0;
          SELECT evidence->'nodes_unread'->0->>'error' FROM apes.findings('index') WHERE object_name = 'public.reports_total'}),
    qr/not in recovery/, 'a primary listed as a standby is not read');

# superusers only: an ordinary role cannot set the connection strings
$primary->safe_psql('postgres', 'CREATE ROLE regress_plain LOGIN IN ROLE pg_monitor');
my ($ret, $out, $err) = $primary->psql('postgres',
    "SELECT apes.version() IS NOT NULL; SET pg_apes_health.standby_dsns = '$standby_dsn'",
    extra_params => [ '-U', 'regress_plain' ]);
like($err, qr/permission denied to set parameter "pg_apes_health.standby_dsns"/, 'only superusers set standby_dsns');
# set before the library loads, it is a placeholder the server refuses when the library loads: no standby is read
($ret, $out, $err) = $primary->psql('postgres', "SET pg_apes_health.standby_dsns = '$standby_dsn';" . $unused,
    extra_params => [ '-U', 'regress_plain' ]);
like($err, qr/permission denied to set parameter "pg_apes_health.standby_dsns"/, 'a placeholder set by a plain role is refused');
is($out, "public.reports_region\npublic.reports_total", 'and no standby is read');

$standby->stop;
$primary->stop;
done_testing();
