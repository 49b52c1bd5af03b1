# Figure 1 — training loss curves, one line per run, coloured by model (log-log).
# Data: NAME.dat, one block per run (blocks separated by two blank lines): tokens, loss, step.
# Variables set above: n_runs, run_color[i] (index into colors), run_title[i] ("" hides a run
# from the key: one entry per model), x_min/x_max/y_min/y_max (ranges), x_tics/y_tics (tic
# lists, or "" for gnuplot's own).
set logscale xy
set xrange [x_min:x_max]
set yrange [y_min:y_max]
set format x "10^{%T}"
if (strlen(x_tics) > 0) { eval "set xtics ".x_tics }
if (strlen(y_tics) > 0) { eval "set ytics ".y_tics }
set xlabel "training tokens seen"
set ylabel "training loss (nats per token)"
set title sprintf("Training loss per run — sweep %s", sweep)
set key outside right top title "model (N = parameters)" box
set grid xtics ytics mxtics mytics lc rgb "#dddddd"
do for [fmt in "png svg"] {
    if (fmt eq "png") {
        set terminal pngcairo size width,height enhanced font "sans,11"
    } else {
        set terminal svg size width,height enhanced font "sans,11" background rgb "white"
    }
    set output name.".".fmt
    plot for [i=1:n_runs] name.".dat" index (i-1) using 1:2 with lines lw 1.6 lc rgb colors[run_color[i]] title run_title[i]
    unset output
}
