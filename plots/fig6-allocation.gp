# Figure 6 — the compute-optimal model size N* and tokens per parameter D*/N* against the training
# budget: Chinchilla (the chinchilla fit's closed form, k = 1) beside T² (the t2-acc and t2-loss
# optima for each inference budget C_inf per query token, with k = C_inf/(2N) capped at k_max,
# the samples the laws were fitted on). Points: measured choices, the lowest-loss run of each
# budget (Chinchilla) and the best run plus sampling (T², figure 5).
# Data: NAME.dat blocks: 0 Chinchilla fit (C, N*, D*/N*); 1..n_cinf t2-acc optimum per C_inf
# (C, N, D/N, k); n_cinf+1..2 n_cinf t2-loss optimum; 2 n_cinf+1 measured lowest-loss runs
# (C, N, D/N, run id); 2 n_cinf+2.. measured T² picks per C_inf (C, N, D/N, run id).
# Variables set above: n_cinf, cinf_label[c], k_max (0: no cap), notes, x_min/x_max, n_min/n_max and
# r_min/r_max (ranges), x_tics, n_tics and r_tics (tic lists, or "" for gnuplot's own).
set logscale xy
set xrange [x_min:x_max]
set format x "10^{%T}"
if (strlen(x_tics) > 0) { eval "set xtics ".x_tics }
set xlabel "training compute C_{train} (FLOPs)"
set grid xtics ytics mxtics mytics lc rgb "#dddddd"
do for [fmt in "png svg"] {
    if (fmt eq "png") {
        set terminal pngcairo size width,height enhanced font "sans,11"
    } else {
        set terminal svg size width,height enhanced font "sans,11" background rgb "white"
    }
    set output name.".".fmt
    set multiplot layout 1,2 margins 0.07,0.98,0.30,0.90 spacing 0.08,0 \
        title sprintf("Compute-optimal allocation, Chinchilla beside T²%s — sweep %s%s", k_max > 0 ? sprintf(" (k ≤ %g)", k_max) : "", sweep, notes) font ",12"
    do for [col=2:3] {
        set ytics autofreq
        set format y "10^{%T}"
        if (col == 2) {
            set yrange [n_min:n_max]
            set ylabel "optimal parameters N*"
            set title "model size"
            if (strlen(n_tics) > 0) { eval "set ytics ".n_tics; set format y "%g" }
            set key at screen 0.5,0.02 center bottom horizontal maxcols 3 box font ",10" width 1
        } else {
            set yrange [r_min:r_max]
            set ylabel "tokens per parameter D*/N*"
            set title "tokens per parameter"
            if (strlen(r_tics) > 0) { eval "set ytics ".r_tics; set format y "%g" }
            unset key
        }
        plot name.".dat" index 0 using 1:col with lines lw 2.5 lc rgb "black" title "Chinchilla (chinchilla fit, k = 1)", \
             for [c=1:n_cinf] name.".dat" index c using 1:col with lines lw 2 lc rgb colors[(c-1)%10+1] title sprintf("T² t2-acc fit, C_{inf} = %s", cinf_label[c]), \
             for [c=1:n_cinf] name.".dat" index (n_cinf+c) using 1:col with lines lw 1.5 dt 2 lc rgb colors[(c-1)%10+1] title sprintf("T² t2-loss fit, C_{inf} = %s", cinf_label[c]), \
             name.".dat" index (2*n_cinf+1) using 1:col with points pt 6 ps 1.8 lw 2 lc rgb "black" title "lowest-loss run per budget (measured)", \
             for [c=1:n_cinf] name.".dat" index (2*n_cinf+1+c) using 1:col with points pt 7 ps 1.4 lc rgb colors[(c-1)%10+1] title sprintf("best run + sampling, C_{inf} = %s (measured)", cinf_label[c])
    }
    unset multiplot
    unset output
}
