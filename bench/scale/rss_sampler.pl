#!/usr/bin/perl
# Peak anonymous resident memory of one process while a call runs, for bench/scale/run.sh.
#
#   rss_sampler.pl PID INTERVAL_MS
#
# Reads commands on stdin, one per line:
#   start   reads RssAnon of /proc/PID/status (the baseline: the value just before the call), answers "ready BASE_KB",
#           then reads it again every INTERVAL_MS milliseconds, keeping the largest value
#   stop    reads it once more and answers "BASE_KB PEAK_KB SAMPLES"
# End of input ends the program.  RssAnon is the process's private anonymous memory that is resident (malloc'd memory
# it has touched); shared buffers and the mapped files of the server do not count.  A sample that cannot be read
# (the process is gone) counts as -1.
use strict;
use warnings;
use IO::Select;

my ($pid, $interval_ms) = @ARGV;
die "usage: rss_sampler.pl PID INTERVAL_MS\n" unless defined $interval_ms && $pid =~ /^\d+$/;
my $status = "/proc/$pid/status";
$| = 1;

sub rss_anon_kb {
    open(my $fh, '<', $status) or return -1;
    while (my $l = <$fh>) {
        return $1 if $l =~ /^RssAnon:\s+(\d+)\s+kB/;
    }
    return -1;
}

# line-at-a-time reading with sysread, so select() sees exactly what is not consumed yet
my $buf = '';
sub have_line { return index($buf, "\n") >= 0; }
sub next_line {                                     # blocking; undef at end of input
    until (have_line()) {
        my $n = sysread(STDIN, $buf, 4096, length $buf);
        return undef unless $n;
    }
    $buf =~ s/^([^\n]*)\n//;
    return $1;
}

my $sel = IO::Select->new(\*STDIN);
while (defined(my $cmd = next_line())) {
    next unless $cmd eq 'start';
    my $base = rss_anon_kb();
    my ($peak, $n) = ($base, 1);
    print "ready $base\n";
    my $eof = 0;
    for (;;) {
        # the wait between samples is the wait for the next command
        if (have_line() || $sel->can_read($interval_ms / 1000)) {
            my $c = next_line();
            $eof = 1 unless defined $c;
            last if $eof || $c eq 'stop';
        }
        my $v = rss_anon_kb();
        $n++;
        $peak = $v if $v > $peak;
    }
    my $v = rss_anon_kb();
    $n++;
    $peak = $v if $v > $peak;
    print "$base $peak $n\n";
    last if $eof;
}
