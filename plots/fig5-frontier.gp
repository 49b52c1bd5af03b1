# Figure 5 — the T² frontier at equal total compute. Every run of a training budget spent the same
# C_train; under an inference budget C_inf (FLOPs per query token) a run of N parameters draws
# k = C_inf / (2N) samples, so all runs of one colour and budget cost the same in total.
# Measured (points): the best sampled pass@k among the budget's runs at their affordable k (T²:
# small model plus sampling), the lowest-loss run at its affordable k (the Chinchilla choice), and
# the lowest-loss run at k = 1 (train only). Fitted (lines): the t2-acc law's optimum over (N, D, k)
# and its value at the Chinchilla allocation, with k capped at k_max (the samples measured) as the
# measured runs are.
# Data: NAME.dat, blocks 2(c-1) and 2(c-1)+1 for inference budget c (T², Chinchilla): C_train,
# pass@k, run id, k, label, and pass@k's 95% interval from a bootstrap over the problems (and
# seeds, pooled) (lo, hi); block 2 n_cinf: Chinchilla at k = 1. NAME-fit.dat, one block per c:
# C_train, T² optimum pass@k, Chinchilla-allocation pass@k.
# Variables set above: n_cinf, cinf_label[c], k_max (0: no cap), has_fit, fit_note, measured_note,
# empty_note (why there is nothing to draw, or ""), x_min/x_max, x_tics (a tic list, or "" for
# gnuplot's own).
set logscale x
set xrange [x_min:x_max]
set yrange [0:1.05]
set format x "10^{%T}"
if (strlen(x_tics) > 0) { eval "set xtics ".x_tics }
set xlabel "training compute C_{train} (FLOPs); the inference budget C_{inf} per query token is fixed per colour"
set ylabel "pass\\@k on the evaluation problems"
set title sprintf("T² frontier at equal total compute — sweep %s%s%s", sweep, fit_note, measured_note)
set key outside right top box font ",10"
set grid xtics ytics mxtics lc rgb "#dddddd"
if (strlen(empty_note) > 0) { set label 1 empty_note at graph 0.5, 0.5 center font ",14"; unset key }
kcap = k_max > 0 ? sprintf(" (k ≤ %g)", k_max) : ""
do for [fmt in "png svg"] {
    if (fmt eq "png") {
        set terminal pngcairo size width,height enhanced font "sans,11"
    } else {
        set terminal svg size width,height enhanced font "sans,11" background rgb "white"
    }
    set output name.".".fmt
    plot for [c=1:n_cinf] name."-fit.dat" index (c-1) using 1:2 with lines lw 2 lc rgb colors[(c-1)%10+1] title sprintf("C_{inf} = %s: T² optimum, t2-acc fit%s", cinf_label[c], kcap), \
         for [c=1:n_cinf] name."-fit.dat" index (c-1) using 1:3 with lines lw 1.5 dt 2 lc rgb colors[(c-1)%10+1] title sprintf("C_{inf} = %s: Chinchilla allocation (fit)", cinf_label[c]), \
         for [c=1:n_cinf] name.".dat" index (2*(c-1)) using 1:2 with lines lw 1.5 lc rgb colors[(c-1)%10+1] notitle, \
         for [c=1:n_cinf] name.".dat" index (2*(c-1)) using 1:2:6:7 with yerrorbars pt 7 ps 1.6 lc rgb colors[(c-1)%10+1] title sprintf("C_{inf} = %s: best run + sampling (measured, 95%% interval)", cinf_label[c]), \
         for [c=1:n_cinf] name.".dat" index (2*(c-1)+1) using 1:2 with lines dt 3 lc rgb colors[(c-1)%10+1] notitle, \
         for [c=1:n_cinf] name.".dat" index (2*(c-1)+1) using 1:2:6:7 with yerrorbars pt 4 ps 1.6 lc rgb colors[(c-1)%10+1] title sprintf("C_{inf} = %s: lowest-loss run (measured)", cinf_label[c]), \
         name.".dat" index (2*n_cinf) using 1:2 with lines lc rgb "black" notitle, \
         name.".dat" index (2*n_cinf) using 1:2:6:7 with yerrorbars pt 8 ps 1.6 lc rgb "black" title "lowest-loss run, k = 1 (train only, measured)", \
         for [c=1:n_cinf] name.".dat" index (2*(c-1)) using 1:2:5 with labels offset char 0,1 font ",8" tc rgb colors[(c-1)%10+1] notitle
    unset output
}
