# Figure 3 — final loss against training compute C = 6ND, one colour per model, with the best run
# of each budget and the fitted compute-optimal frontier L(N*(C), D*(C)) of the Chinchilla law.
# Data: NAME.dat, one block per model: C (6ND), loss, run id; NAME-frontier.dat: C, loss, run id
# of the lowest-loss run of each budget.
# Variables set above: n_models, model_title[m], model_N[m] (parameters of model m), has_fit and
# E, A, B, alpha, beta, loss_column, x_min/x_max/y_min/y_max (ranges), x_tics/y_tics (tic lists,
# or "" for gnuplot's own).
L(N, D) = E + A / N**alpha + B / D**beta
Gc = has_fit ? (alpha * A / (beta * B))**(1 / (alpha + beta)) : 1
Nopt(C) = Gc * (C / 6)**(beta / (alpha + beta))
Lopt(C) = L(Nopt(C), C / (6 * Nopt(C)))
set logscale xy
set xrange [x_min:x_max]
set yrange [y_min:y_max]
set format x "10^{%T}"
if (strlen(x_tics) > 0) { eval "set xtics ".x_tics }
if (strlen(y_tics) > 0) { eval "set ytics ".y_tics }
set samples 300
set xlabel "training compute C = 6ND (FLOPs)"
set ylabel sprintf("final loss (%s, nats per token)", loss_column)
set title sprintf("Loss against training compute — sweep %s%s", sweep, has_fit ? "; dashed: fitted law per model" : "; no chinchilla curves (no converged fit that identifies A, B, alpha, beta)")
set key outside right top box
set grid xtics ytics mxtics mytics lc rgb "#dddddd"
do for [fmt in "png svg"] {
    if (fmt eq "png") {
        set terminal pngcairo size width,height enhanced font "sans,11"
    } else {
        set terminal svg size width,height enhanced font "sans,11" background rgb "white"
    }
    set output name.".".fmt
    plot for [m=1:n_models] name.".dat" index (m-1) using 1:2 with points pt 7 ps 1.4 lc rgb colors[(m-1)%10+1] title model_title[m], \
         for [m=1:n_models] (has_fit ? L(model_N[m], x / (6 * model_N[m])) : NaN) with lines dt 2 lw 1.2 lc rgb colors[(m-1)%10+1] notitle, \
         name."-frontier.dat" using 1:2 with linespoints pt 6 ps 2 lw 1.5 lc rgb "black" title "best run per budget", \
         (has_fit ? Lopt(x) : NaN) with lines lw 2.5 lc rgb "#444444" title "fitted frontier L(N*(C), D*(C))"
    unset output
}
