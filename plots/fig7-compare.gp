# Figure 7 — the answer at equal total compute: the paired difference in pass@k between the T²
# pick (the run of a training budget with the best pass@k at the k = C_inf / (2N) samples it
# affords) and the Chinchilla pick (the run of the same budget with the lowest loss, at its own
# k), against the inference budget C_inf, one colour per training budget C_train. Both picks are
# scored on the same problems; bars are 95% intervals from a bootstrap over the problems (and the
# seeds, pooled over seeds when the sweep has several). Filled points: the interval excludes 0.
# Above the zero line a smaller model plus sampling beats the loss-optimal one; on it the two
# picks are the same run.
# Data: NAME.dat, one block per training budget: C_inf, difference, interval lo, hi, significant
# (0/1), C_inf shifted per budget (drawn), "N k / N k" of the two picks.
# Variables set above: n_train, train_label[b], loss_column, n_problems, seeds, summary,
# empty_note, x_min/x_max, x_tics, y_min/y_max.
set logscale x
set xrange [x_min:x_max]
set yrange [y_min:y_max]
set format x "10^{%T}"
if (strlen(x_tics) > 0) { eval "set xtics ".x_tics }
set xlabel "inference budget C_{inf} (FLOPs per query token)"
set ylabel "pass\\@k: T² pick − Chinchilla pick"
set title sprintf("T² pick − Chinchilla pick at equal total compute — sweep %s\n%g problems, %s; Chinchilla pick: lowest %s; %s", sweep, n_problems, seeds == 1 ? "1 seed" : sprintf("%g seeds, pooled", seeds), loss_column, summary)
set key outside right top box font ",10"
set grid xtics ytics mxtics lc rgb "#dddddd"
set xzeroaxis lt -1 lw 1.5
if (strlen(empty_note) > 0) { set label 1 empty_note at graph 0.5, 0.5 center font ",14"; unset key }
do for [fmt in "png svg"] {
    if (fmt eq "png") {
        set terminal pngcairo size width,height enhanced font "sans,11"
    } else {
        set terminal svg size width,height enhanced font "sans,11" background rgb "white"
    }
    set output name.".".fmt
    plot 0 with lines lt -1 lw 1.5 notitle, \
         for [b=1:n_train] name.".dat" index (b-1) using 6:2 with lines lw 1.2 lc rgb colors[(b-1)%10+1] notitle, \
         for [b=1:n_train] name.".dat" index (b-1) using 6:2:3:4 with yerrorbars pt 6 ps 1.5 lc rgb colors[(b-1)%10+1] title sprintf("C_{train} = %s FLOPs (95%% interval)", train_label[b]), \
         for [b=1:n_train] name.".dat" index (b-1) using 6:($5 > 0 ? $2 : 1/0) with points pt 7 ps 1.5 lc rgb colors[(b-1)%10+1] notitle
    unset output
}
