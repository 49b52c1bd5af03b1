# Figure 2 — IsoFLOP profiles: final loss against model size, one colour per training budget,
# with the fitted Chinchilla law L(N, D) = E + A/N^alpha + B/D^beta along each budget.
# Data: NAME.dat, one block per budget: N, loss, run id.
# Variables set above: n_budgets, budget[i], budget_label[i], budget_kind ("train_flops",
# "tokens_per_param" or "tokens"), has_fit and E, A, B, alpha, beta (the chinchilla fit),
# loss_column, x_min/x_max/y_min/y_max (ranges), x_tics (a tic list, or "" for gnuplot's own).
L(N, D) = E + A / N**alpha + B / D**beta
Dof(N, i) = budget_kind eq "train_flops" ? budget[i] / (6 * N) : (budget_kind eq "tokens_per_param" ? budget[i] * N : budget[i])
# Compute-optimal N for a FLOP budget (Hoffmann et al.'s closed form under C = 6ND).
Gc = has_fit ? (alpha * A / (beta * B))**(1 / (alpha + beta)) : 1
Nopt(C) = Gc * (C / 6)**(beta / (alpha + beta))
optimum(i) = has_fit && budget_kind eq "train_flops" && Nopt(budget[i]) > x_min && Nopt(budget[i]) < x_max
set logscale x
set xrange [x_min:x_max]
set yrange [y_min:y_max]
set format x "10^{%T}"
if (strlen(x_tics) > 0) { eval "set xtics ".x_tics }
set samples 300
set xlabel "model parameters N"
set ylabel sprintf("final loss (%s, nats per token)", loss_column)
set title sprintf("%s — sweep %s%s", budget_kind eq "train_flops" ? "IsoFLOP profiles" : "Final loss per training budget", sweep, \
    !has_fit ? "; no chinchilla curves (no converged fit that identifies A, B, alpha, beta)" : budget_kind eq "train_flops" ? "; lines: fitted Chinchilla law, diamonds: its optimum" : "; lines: fitted Chinchilla law")
set key outside right top box title "training budget"
set grid xtics ytics mxtics lc rgb "#dddddd"
do for [fmt in "png svg"] {
    if (fmt eq "png") {
        set terminal pngcairo size width,height enhanced font "sans,11"
    } else {
        set terminal svg size width,height enhanced font "sans,11" background rgb "white"
    }
    set output name.".".fmt
    plot for [i=1:n_budgets] name.".dat" index (i-1) using 1:2 with points pt 7 ps 1.4 lc rgb colors[(i-1)%10+1] title budget_label[i], \
         for [i=1:n_budgets] (has_fit ? L(x, Dof(x, i)) : NaN) with lines lw 1.8 lc rgb colors[(i-1)%10+1] notitle, \
         for [i=1:n_budgets] '+' every ::0::0 using (optimum(i) ? Nopt(budget[i]) : NaN):(L(Nopt(budget[i]), Dof(Nopt(budget[i]), i))) \
             with points pt 12 ps 2 lw 2 lc rgb colors[(i-1)%10+1] notitle
    unset output
}
