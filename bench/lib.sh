# bench/lib.sh: what bench/stats.sh and bench/pg-stats.sh share (sourced).

# wrk's latency percentile $1 (50%, 99%) of the output on stdin, in ms
# whatever its unit
pct() { awk -v p="$1" '$1 == p {v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
        f = u == "us" ? 0.001 : u == "s" ? 1000 : u == "m" ? 60000 : 1; printf "%.1f", v * f}'; }

# The lead list's filters whose first page is measured: few or many of the
# leads match each, and some match none.
FIRST_PAGES=(grade=hot grade=cold qualified=true qualified=false spam=true min_score=60 min_score=90
    "min_score=5&max_score=5" status=converted utm_source=bing "grade=hot&status=rejected")
