#!/usr/bin/env bash
# The module graph of Package.swift against the code and against docs/modules.md.
# Fails when
#   - a file of any target (library, executable or test) imports a project
#     module its target does not declare (Swift lets a transitive import
#     through, and the declared graph would then not be the real one),
#   - a library or executable target declares a module of its own tier or of a
#     higher one (arrows go down only; the tiers are the table in docs/modules.md),
#   - a target has no tier, or the table names a module Package.swift lacks,
#   - the dependency list in docs/modules.md differs from Package.swift.
# Test targets have no tier; their imports are checked like the others.
#   Tests/scripts/module-graph.sh           check (part of Cluster/test.sh)
#   Tests/scripts/module-graph.sh --write   rewrite the list in docs/modules.md
# Needs no build: it reads Package.swift and the sources as text (perl).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
MODE=${1:-check} perl -e '
use strict; use warnings;
my $mode = $ENV{MODE};
my $doc = "docs/modules.md";
my $errors = 0;
sub fail { print "FAIL module-graph: $_[0]\n"; $errors++; }

# Package.swift: every target, its kind, its folder and its project dependencies.
open(my $fh, "<", "Package.swift") or die "Package.swift: $!";
my $pkg = do { local $/; <$fh> };
$pkg =~ s{//[^\n]*}{}g;
my (%kind, %path, %deps, @order);
my @starts;
while ($pkg =~ /\.(target|executableTarget|testTarget|systemLibrary)\(\s*name:\s*"([^"]+)"/g) {
    push @starts, [$-[0], $1, $2];
}
for my $i (0 .. $#starts) {
    my ($at, $kind, $name) = @{$starts[$i]};
    my $end = $i < $#starts ? $starts[$i + 1][0] : length($pkg);
    my $chunk = substr($pkg, $at, $end - $at);
    push @order, $name;
    $kind{$name} = $kind;
    $path{$name} = $chunk =~ /\bpath:\s*"([^"]+)"/ ? $1 : ($kind eq "testTarget" ? "Tests/$name" : "Sources/$name");
    my @d;
    if ($chunk =~ /dependencies:\s*\[/g) {
        my ($depth, $from) = (1, pos($chunk));
        while ($depth > 0 && pos($chunk) < length($chunk)) {
            $chunk =~ /\G[^\[\]]*([\[\]])/gc or last;
            $depth += $1 eq "[" ? 1 : -1;
        }
        my $list = substr($chunk, $from, pos($chunk) - $from - 1);
        $list =~ s/\.product\([^)]*\)//g;    # packages from elsewhere: not project modules
        @d = $list =~ /"([^"]+)"/g;
    }
    $deps{$name} = [@d];
}
die "no targets found in Package.swift\n" unless @order;

# The tiers: the rows "| N | A, B, C | ... |" of docs/modules.md.
open(my $dh, "<", $doc) or die "$doc: $!";
my $text = do { local $/; <$dh> };
my %tier;
for my $line (split /\n/, $text) {
    next unless $line =~ /^\|\s*(\d+)\s*\|([^|]*)\|/;
    my $n = $1;
    for my $m (split /,/, $2) {
        $m =~ s/[\s`]//g;
        next if $m eq "";
        fail("$doc names $m in tiers $tier{$m} and $n") if exists $tier{$m};
        $tier{$m} = $n;
    }
}
for my $m (sort keys %tier) { fail("$doc gives $m a tier, but Package.swift has no target $m") unless $kind{$m}; }

# The dependency list as docs/modules.md shows it, drawn from Package.swift.
my $graph = "";
for my $t (@order) {
    next if $kind{$t} eq "testTarget";
    my $t_tier = exists $tier{$t} ? $tier{$t} : "?";
    $graph .= sprintf("%-18s tier %s  <- %s\n", $t, $t_tier, @{$deps{$t}} ? join(", ", @{$deps{$t}}) : "(none)");
}
my ($begin, $end) = ("<!-- module-graph:begin -->", "<!-- module-graph:end -->");
my $block = "$begin\n```\n$graph```\n$end";
if ($mode eq "--write") {
    $text =~ s/\Q$begin\E.*?\Q$end\E/$block/s or die "$doc: no $begin ... $end block\n";
    open(my $out, ">", $doc) or die "$doc: $!"; print $out $text; close $out;
    print "wrote the module graph into $doc\n";
    exit 0;
}
if (index($text, $block) < 0) {
    fail("the module graph in $doc differs from Package.swift; run Tests/scripts/module-graph.sh --write and read the diff");
}

# Tiers: every library and executable target has one, and its arrows go down.
for my $t (@order) {
    next if $kind{$t} eq "testTarget";
    unless (exists $tier{$t}) { fail("target $t has no tier in $doc"); next; }
    for my $d (@{$deps{$t}}) {
        next unless $kind{$d};    # an unknown name: swift build reports it
        next unless exists $tier{$d};
        fail("$t (tier $tier{$t}) depends on $d (tier $tier{$d}): a module may depend only on lower tiers")
            if $tier{$d} >= $tier{$t};
    }
}

# Imports: every project module a file of Sources or Tests imports is declared by the file'"'"'s target.
my $files = 0;
for my $t (@order) {
    next if $kind{$t} eq "systemLibrary";
    my %declared = map { $_ => 1 } @{$deps{$t}};
    my @swift = split /\n/, `find "$path{$t}" -name "*.swift" 2>/dev/null | sort`;
    for my $f (@swift) {
        $files++;
        open(my $sf, "<", $f) or die "$f: $!";
        while (my $line = <$sf>) {
            next unless $line =~ /^\s*(?:@\w+\s+)*import\s+(?:(?:typealias|struct|class|enum|protocol|let|var|func)\s+)?(\w+)/;
            my $m = $1;
            next unless $kind{$m} && $m ne $t;
            fail("$f imports $m, which Package.swift does not declare for $t") unless $declared{$m};
        }
    }
}
my @libs = grep { $kind{$_} ne "testTarget" } @order;
if ($errors) { print "module-graph: $errors problem(s)\n"; exit 1; }
printf "module-graph: %d targets (%d libraries and executables, each with a tier), %d Swift files, every import of Sources and Tests declared, every arrow down\n",
    scalar(@order), scalar(@libs), $files;
'
