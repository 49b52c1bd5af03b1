# Figure 4 — pass@k and maj@k against k, one panel per model, one colour per training budget:
# sampled pass@k (filled circles, with the 95% interval of a bootstrap over the problems),
# sampled maj@k (open squares) and the analytic pass@k 1 - (1 - p_i)^k from the gold
# log-probabilities (lines).
# Data: NAME.dat, one block per run, runs of a model contiguous: k, pass@k, maj@k, analytic pass@k,
# pass@k's interval (lo, hi).
# Variables set above: n_models, model_title[m], model_first[m] (block of its first run),
# model_count[m], n_runs, run_color[i] (index into colors, by budget), run_title[i], rows, cols,
# k_max, temperature, empty_note (why there is nothing to draw, or "").
set logscale x 2
set xrange [0.8:k_max * 1.25]
set yrange [0:1.02]
set xlabel "samples per problem k"
set ylabel "accuracy"
set key left top box font ",9"
set grid xtics ytics lc rgb "#dddddd"
if (strlen(empty_note) > 0) { set label 1 empty_note at graph 0.5, 0.5 center font ",12"; unset key }
do for [fmt in "png svg"] {
    if (fmt eq "png") {
        set terminal pngcairo size width,height enhanced font "sans,11"
    } else {
        set terminal svg size width,height enhanced font "sans,11" background rgb "white"
    }
    set output name.".".fmt
    set multiplot layout rows,cols title sprintf("pass\\@k and maj\\@k per model — sweep %s, temperature %g; circles: sampled pass\\@k, squares: maj\\@k, lines: analytic pass\\@k from the gold log-probabilities", sweep, temperature) font ",12"
    do for [m=1:n_models] {
        set title model_title[m]
        plot for [j=0:model_count[m]-1] name.".dat" index (model_first[m]+j) using 1:2:5:6 with yerrorbars pt 7 ps 1.2 lc rgb colors[run_color[model_first[m]+j+1]] title run_title[model_first[m]+j+1], \
             for [j=0:model_count[m]-1] name.".dat" index (model_first[m]+j) using 1:3 with linespoints dt 3 pt 4 ps 1.2 lc rgb colors[run_color[model_first[m]+j+1]] notitle, \
             for [j=0:model_count[m]-1] name.".dat" index (model_first[m]+j) using 1:4 with lines lw 1.8 lc rgb colors[run_color[model_first[m]+j+1]] notitle
    }
    unset multiplot
    unset output
}
