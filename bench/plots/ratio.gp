# ratio.gp - cairn-bench's ratio chart: for each workload, each
# configuration's ops/s divided by raw LMDB's of the same durability class
# (raw-lmdb for durable, raw-lmdb-nosync for none), on a log axis with a
# dashed line at 1 (above it: faster than raw LMDB). cairn-bench fills in
# the @NAME@ fields and appends one copy per chart to DIR/plots.gp.
reset
set terminal @TERMINAL@
set output '@OUTPUT@'
set title '@TITLE@' noenhanced
set datafile missing '?'
set style data histograms
set style histogram clustered gap 2
set style fill solid 0.9 border rgb '#303030'
set boxwidth 0.95 relative
set key outside right top vertical noenhanced
set xtics nomirror rotate by -30 noenhanced
set ytics nomirror
set grid ytics
set logscale y
set ylabel 'ops/s / raw LMDB ops/s (log scale)'
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 linewidth 2 linecolor rgb 'black' front
@PALETTE@
plot for [i=2:@NCOLS@] '@DATA@' using i:xtic(1) title columnheader(i)
