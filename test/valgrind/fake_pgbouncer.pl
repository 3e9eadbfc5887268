#!/usr/bin/perl
# A fake PgBouncer admin console for test/valgrind/pgbouncer_cancel.sh: accepts any login, answers SHOW POOLS with
# one pool, never answers SHOW STATS.  Prints its port on stdout, then serves until killed.
use strict; use warnings; use IO::Socket::INET;
$| = 1;
my $srv = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 16, ReuseAddr => 1) or die;
print $srv->sockport, "\n";
close STDOUT;
$SIG{CHLD} = 'IGNORE';
while (my $c = $srv->accept) {
    next if fork;
    binmode $c;
    my $rd = sub { my $n = shift; my $buf = ''; while (length($buf) < $n) { my $r = sysread($c, $buf, $n - length($buf), length($buf)); exit 0 unless $r } $buf };
    # startup (after any SSL/GSS requests, answered N)
    while (1) {
        my $len = unpack "N", $rd->(4); my $body = $rd->($len - 4);
        my $code = unpack "N", $body;
        if ($code == 80877103 || $code == 80877104) { syswrite $c, "N"; next }
        last;
    }
    syswrite $c, pack("A N N", "R", 8, 0);
    syswrite $c, pack("A N A", "Z", 5, "I");
    while (1) {
        my $type = $rd->(1); my $len = unpack "N", $rd->(4); my $body = $rd->($len - 4);
        exit 0 if $type eq "X";
        if ($body =~ /SHOW POOLS/) {
            my @cols = qw(database user cl_active cl_waiting sv_active sv_idle sv_used sv_login maxwait maxwait_us pool_mode);
            my @vals = ("db1", "u1", 1, 2, 1, 0, 0, 0, 7, 0, "transaction");
            my $t = pack("n", scalar @cols) . join "", map { pack("Z* N n N n N n", $_, 0, 0, 25, 65535, 0xFFFFFFFF, 0) } @cols;
            syswrite $c, "T" . pack("N", 4 + length $t) . $t;
            my $d = pack("n", scalar @vals) . join "", map { pack("N", length $_) . $_ } @vals;
            syswrite $c, "D" . pack("N", 4 + length $d) . $d;
            syswrite $c, "C" . pack("N", 4 + 5) . "SHOW\0";
            syswrite $c, pack("A N A", "Z", 5, "I");
        } else {
            1 while sysread($c, my $x, 4096);   # SHOW STATS: never answered; exit when the client hangs up
            exit 0;
        }
    }
}
