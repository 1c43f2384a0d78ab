#!/usr/bin/env bash
# bench/media.sh — the same UDP load through WARP's media relay and through
# Debian's rtpengine (userspace, table=-1), in the same run, on loopback.
#
# For each relay: N calls set up with ng offer/answer (each a bidirectional
# stream of 172-byte RTP packets), the aggregate packet rate stepped up
# (STEP_MS per step) until two steps in a row lose packets; then a second
# run with 2,000 concurrent calls at a modest rate, which must lose nothing.
# Prints each relay's highest loss-free rate, its CPU seconds per million
# packets relayed, and the ratio WARP / rtpengine.
#
# Relay port ranges stay below the kernel's ephemeral range (32768-60999),
# where the generator's own sockets are bound.
#
# With two or more CPUs the relay runs on CPU 0 and the load generator on
# CPU 1 (taskset); both relays get one packet thread.  Whole run: < 5 min.
#
#   WARP_BUILD=build bench/media.sh            (after ninja -C build)
#   CALLS=100 STEP_MS=3000 RATES=20000,40000 bench/media.sh
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
build=${WARP_BUILD:-build}
warp=$build/warp
load=$build/bench/rtpload
calls=${CALLS:-100}
step_ms=${STEP_MS:-3000}
burst=${BURST:-4}
rates=${RATES:-20000,40000,60000,80000,100000,120000,140000,160000,180000,200000,220000,250000,280000,310000}
big_calls=${BIG_CALLS:-2000}
big_rate=${BIG_RATE:-40000}
big_ms=${BIG_MS:-5000}

for f in "$warp" "$load"; do
  [ -x "$f" ] || { echo "media.sh: $f missing (ninja -C $build)" >&2; exit 1; }
done
command -v rtpengine >/dev/null || { echo "media.sh: rtpengine not installed (scripts/install-deps --test)" >&2; exit 1; }

relay_cpu="" gen_cpu=""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  relay_cpu="taskset -c 0" gen_cpu="taskset -c 1"
fi

tmp=$(mktemp -d /tmp/warp-mediabench.XXXXXX)
relay_pid=""
stop_relay() {
  if [ -n "$relay_pid" ] && kill -0 "$relay_pid" 2>/dev/null; then
    kill -TERM "$relay_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$relay_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$relay_pid" 2>/dev/null || true
    wait "$relay_pid" 2>/dev/null || true
  fi
  relay_pid=""
}
trap 'stop_relay; rm -rf "$tmp"' EXIT


# Waits until the ng port answers a ping (at most 10 s).
wait_ng() {
  python3 - "$1" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.3)
end = time.monotonic() + 10
while time.monotonic() < end:
    try:
        s.sendto(b"p1 d7:command4:pinge", ("127.0.0.1", int(sys.argv[1])))
        if b"pong" in s.recv(1000):
            sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF
}

start_warp() {
  local ng=$1 http
  http=$(free_port tcp)
  cat > "$tmp/warp.ini" <<EOF
[store]
url = sqlite:$tmp/warp.db
[http]
listen = 127.0.0.1:$http
[log]
level = warn
[media]
ng_listen = 127.0.0.1:$ng
interfaces = default/127.0.0.1
port_min = 12000
port_max = 21999
workers = 1
port_quiet = 0s
recording_dir = $tmp/spool
EOF
  (cd "$tmp" && exec $relay_cpu "$OLDPWD/$warp" run -c "$tmp/warp.ini" --roles media) \
    >"$tmp/warp.out" 2>"$tmp/warp.err" &
  relay_pid=$!
}

start_rtpengine() {
  local ng=$1
  $relay_cpu rtpengine --config-file=none -f -E --table=-1 -i 127.0.0.1 -n "127.0.0.1:$ng" \
    -m 22000 -M 31999 --num-threads=1 --log-level=3 >"$tmp/rtpengine.out" 2>&1 &
  relay_pid=$!
}

# run_one NAME START_FN -> appends rtpload's lines to $tmp/NAME.txt
run_one() {
  local name=$1 start=$2 ng
  ng=$(free_port udp)
  "$start" "$ng"
  wait_ng "$ng" || { echo "media.sh: $name did not answer ng ping" >&2; cat "$tmp"/*.err "$tmp"/*.out >&2; exit 1; }
  echo "== $name (pid $relay_pid) $calls calls, rates $rates pps, ${step_ms} ms each, $burst packets a turn" >&2
  timeout 150 $gen_cpu "$load" -l "$name" -n "$ng" -p "$relay_pid" -c "$calls" -r "$rates" \
    -s "$step_ms" -b "$burst" | tee "$tmp/$name.txt" >&2
  echo "== $name: $big_calls calls at $big_rate pps" >&2
  timeout 90 $gen_cpu "$load" -l "$name-big" -n "$ng" -p "$relay_pid" -c "$big_calls" \
    -r "$big_rate" -s "$big_ms" -a | tee "$tmp/$name-big.txt" >&2
  stop_relay
}

field() { # field FILE KEY: the value of KEY= on the RESULT line
  sed -n "s/^RESULT .*\b$2=\([^ ]*\).*/\1/p" "$1"
}

echo "load average before: $(cut -d" " -f1-3 /proc/loadavg)" >&2
run_one warp start_warp
run_one rtpengine start_rtpengine

w_pps=$(field "$tmp/warp.txt" lossfree_pps) r_pps=$(field "$tmp/rtpengine.txt" lossfree_pps)
w_cpu=$(field "$tmp/warp.txt" cpu_s_per_mpkt) r_cpu=$(field "$tmp/rtpengine.txt" cpu_s_per_mpkt)
w_short=$(field "$tmp/warp.txt" generator_short) r_short=$(field "$tmp/rtpengine.txt" generator_short)
# CPU per million packets compared at the highest step both relayed without loss.
common=$(cat "$tmp/warp.txt" "$tmp/rtpengine.txt" | awk '/^STEP .* lost=0 / {
  split($3, t, "="); n[t[2]]++ } END { m = 0; for (k in n) if (n[k] == 2 && k + 0 > m) m = k + 0; print m }')
at_common() { sed -n "s/^STEP .*target=$common .*lost=0 .*cpu_s_per_mpkt=\([^ ]*\).*/\1/p" "$1"; }
w_cc=$(at_common "$tmp/warp.txt") r_cc=$(at_common "$tmp/rtpengine.txt")
big_line() { sed -n 's/^STEP .*sent=\([0-9]*\) recv=\([0-9]*\) lost=\([-0-9]*\).*/sent \1, received \2, lost \3/p' "$1"; }

echo
printf '%-10s %14s %16s %20s %24s\n' relay "loss-free pps" "generator short" "CPU s/Mpkt (at max)" "CPU s/Mpkt (at $common)"
printf '%-10s %14s %16s %20s %24s\n' warp "$w_pps" "$w_short" "$w_cpu" "${w_cc:-n/a}"
printf '%-10s %14s %16s %20s %24s\n' rtpengine "$r_pps" "$r_short" "$r_cpu" "${r_cc:-n/a}"
awk -v w="$w_pps" -v r="$r_pps" 'BEGIN { if (r > 0) printf "ratio warp/rtpengine (loss-free pps): %.2f\n", w / r }'
if [ -n "$w_cc" ] && [ -n "$r_cc" ]; then
  awk -v w="$w_cc" -v r="$r_cc" -v c="$common" \
    'BEGIN { if (w > 0) printf "ratio rtpengine/warp (CPU per packet at %d pps): %.2f\n", c, r / w }'
fi
echo "$big_calls calls at $big_rate pps: warp $(big_line "$tmp/warp-big.txt"); rtpengine $(big_line "$tmp/rtpengine-big.txt")"
echo "load average after: $(cut -d" " -f1-3 /proc/loadavg) (other work on this machine skews the figures)"
