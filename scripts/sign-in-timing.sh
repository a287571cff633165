#!/usr/bin/env bash
# Median time of POST /v1/auth/login for an unknown user, a spec user without a
# password, a user with a password (wrong, before the lockout) and a locked-out user:
# equal medians mean the time does not tell which users exist (security review L1).
# Usage: scripts/sign-in-timing.sh [BINARY] [PORT]   (loopback only; each kind of
# attempt from its own 127.0.0.x, so the per-address throttle does not interfere)
set -euo pipefail
B=${1:-target/release/switchboard}
P=${2:-28801}
spec=$(dirname "$0")/../examples/acme
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
"$B" apply "$spec" --data "$work/d" >/dev/null
echo "analyst4frank1" | "$B" user set-password --user frank --data "$work/d" >/dev/null
"$B" serve --data "$work/d" --listen "127.0.0.1:$P" >"$work/banner" 2>"$work/log" &
server=$!
for _ in $(seq 1 100); do grep -q "Stop with" "$work/banner" 2>/dev/null && break; sleep 0.1; done
median() { # user password source count
  for _ in $(seq 1 "$4"); do
    curl -s -o /dev/null -w '%{time_total}\n' --interface "$3" --cacert "$work/d/tls/ca.pem" \
      -H 'content-type: application/json' -d "{\"user\":\"$1\",\"password\":\"$2\"}" \
      "https://localhost:$P/v1/auth/login"
  done | sort -n | awk '{a[NR]=$1} END {printf "%.1f ms", a[int((NR+1)/2)]*1000}'
}
echo "unknown user:                 $(median nobody-at-all wrong-guess-1 127.0.0.2 25)"
echo "user without a password:      $(median alice wrong-guess-1 127.0.0.3 25)"
echo "wrong password (before lock): $(median frank wrong-guess-1 127.0.0.4 9)"
echo "locked out:                   $(median frank wrong-guess-1 127.0.0.5 9)"
