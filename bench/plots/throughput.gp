# throughput.gp - cairn-bench's throughput chart: one group of bars per
# workload, one bar per configuration, operations per second on a log axis.
# cairn-bench fills in the @NAME@ fields (terminal, output, title, data
# file, column count) and appends one copy per chart to DIR/plots.gp.
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
set format y '%.0s%c'
set ylabel 'ops/s (log scale)'
@PALETTE@
plot for [i=2:@NCOLS@] '@DATA@' using i:xtic(1) title columnheader(i)
