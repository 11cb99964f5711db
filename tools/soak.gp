# soak.gp: draw the CSV of tools/soak.py into a PNG (1200x900, three panels).
#
#     gnuplot -e "csv='docs/soak.csv'; png='docs/soak.png'" tools/soak.gp
#
# (soak.py --plot PNG runs this.) Columns are read by their header names, so
# columns added to the CSV later do not break the plot.
#   1. daemon memory: VmRSS and VmHWM (MiB); database + WAL size (GiB, right)
#   2. submit latency per interval: p50, p99, p99.9 (ms, log scale), max;
#      and how long each `stats` request took (it blocks the daemon)
#   3. throughput: submits/s and updates/s; waitlist and open referrals (right)

if (!exists("csv")) csv = "docs/soak.csv"
if (!exists("png")) png = "docs/soak.png"

set datafile separator ","
set datafile columnheaders
set datafile missing ""

# totals and the time scale: minutes for long runs, seconds for short ones
stats csv using "elapsed_s" nooutput
tmax = STATS_max
stats csv using "acked_total" nooutput
acked = STATS_max
if (tmax >= 300) { xs = 60.0; xunit = "min" } else { xs = 1.0; xunit = "s" }

set terminal pngcairo size 1200,900 font "DejaVu Sans,10" noenhanced
set output png

set multiplot layout 3,1 title sprintf("referrald soak: %d referrals with accept/start/close churn in %.1f min  (%s)", acked, tmax / 60.0, csv)
set grid
set key outside top center horizontal nobox samplen 2 maxrows 1 width 1
set xrange [0:tmax / xs]
set xlabel sprintf("elapsed (%s)", xunit)
set lmargin 12
set rmargin 12

# 1. memory
set title "daemon memory"
set ylabel "MiB"
set yrange [0:*]
set y2label "database + WAL (GiB)"
set y2range [0:*]
set y2tics
set ytics nomirror
plot csv using (column("elapsed_s") / xs):(column("rss_kib") / 1024.0) with lines lw 2 lc rgb "#1f77b4" title "VmRSS", \
     ""  using (column("elapsed_s") / xs):(column("hwm_kib") / 1024.0) with lines lw 2 dt 2 lc rgb "#d62728" title "VmHWM", \
     ""  using (column("elapsed_s") / xs):(column("db_bytes") / 1073741824.0) axes x1y2 with lines lw 1 lc rgb "#7f7f7f" title "db + WAL (right)"

# 2. latency
set title "submit latency per interval (send to reply, window of submits in flight)"
set ylabel "ms"
set logscale y
set yrange [*:*]
unset y2label
unset y2tics
set ytics mirror
plot csv using (column("elapsed_s") / xs):"lat_p50_ms" with lines lw 2 lc rgb "#2ca02c" title "p50", \
     ""  using (column("elapsed_s") / xs):"lat_p99_ms" with lines lw 2 lc rgb "#ff7f0e" title "p99", \
     ""  using (column("elapsed_s") / xs):"lat_p999_ms" with lines lw 1 lc rgb "#d62728" title "p99.9", \
     ""  using (column("elapsed_s") / xs):"lat_max_ms" with points pt 7 ps 0.4 lc rgb "#9467bd" title "max", \
     ""  using (column("elapsed_s") / xs):"stats_ms" with points pt 9 ps 1.2 lc rgb "#000000" title "stats op duration"
unset logscale y

# 3. throughput and queues
set title "throughput per interval; waitlist and open referrals"
set ylabel "requests/s"
set yrange [0:*]
set y2label "referrals"
set y2range [0:*]
set y2tics
set ytics nomirror
plot csv using (column("elapsed_s") / xs):"submits_per_s" with lines lw 2 lc rgb "#1f77b4" title "submits/s", \
     ""  using (column("elapsed_s") / xs):"updates_per_s" with lines lw 2 lc rgb "#ff7f0e" title "updates/s", \
     ""  using (column("elapsed_s") / xs):"run_waitlist" axes x1y2 with lines lw 1 lc rgb "#2ca02c" title "waitlisted (right)", \
     ""  using (column("elapsed_s") / xs):"run_open" axes x1y2 with lines lw 1 dt 2 lc rgb "#7f7f7f" title "open (right)", \
     ""  using (column("elapsed_s") / xs):"waitlist" axes x1y2 with points pt 6 ps 1 lc rgb "#000000" title "waitlist per stats op (right)"

unset multiplot
