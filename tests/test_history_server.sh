#!/bin/sh
# test_history_server: bench/history_server.sh, which the load and dashboard
# benches source, ends the bench when `kestrel serve` cannot start or never
# says it listens (it waited for ever for the line announcing the port) and
# when the bench gets TERM
# (the trap cleaned up and the bench went on). `timeout` is a hang guard.
set -u
here=${top_srcdir:-$(pwd)}/bench
T=$(mktemp -d /tmp/kestrel-histserve.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# a kestrel that refuses the history, as an old binary on a newer schema does
cat >"$T/old-kestrel" <<'SH'
#!/bin/sh
echo "error: the history's schema (version 99) is newer than this kestrel" >&2
exit 1
SH
chmod +x "$T/old-kestrel"
out=$(KESTREL="$T/old-kestrel" timeout -k 10 120 sh -c '. "$1/history_server.sh"; history_serve; echo served' \
      sh "$here" 2>&1)
rc=$?
[ $rc = 1 ] || fail "a server that cannot start: exit $rc (124 or 137: it waited for ever): $out"
case $out in *"version 99"*) ;; *) fail "the server's error is not shown: $out" ;; esac
case $out in *served*) fail "the bench went on: $out" ;; esac

# a server that stays up and never prints its "listening on" line (stdout
# not a pipe it writes, a hung start) was waited for ever: the wait is bounded
# (HISTORY_START_S, here 1 s) and names what it waited for
cat >"$T/mute-kestrel" <<SH
#!/bin/sh
echo \$\$ >"$T/mute.pid"
echo "starting" >&2
exec sleep 1000
SH
chmod +x "$T/mute-kestrel"
out=$(KESTREL="$T/mute-kestrel" HISTORY_START_S=1 timeout -k 10 120 \
      sh -c '. "$1/history_server.sh"; history_serve; echo served' sh "$here" 2>&1)
rc=$?
[ $rc = 1 ] || fail "a server that never says it listens: exit $rc (124 or 137: it waited for ever): $out"
case $out in *"did not say 'listening on' within 1 s"*starting*) ;; *) fail "no clear error: $out" ;; esac
case $out in *served*) fail "the bench went on: $out" ;; esac
kill -0 "$(cat "$T/mute.pid")" 2>/dev/null && fail "the mute server was left running"

# TERM ends the bench, and its temp dir goes
out=$(KESTREL=/bin/true timeout -k 10 120 sh -c '. "$1/history_server.sh"; echo "$tmp"; kill -TERM $$; echo went on' \
      sh "$here" 2>&1)
rc=$?
[ $rc = 143 ] || fail "TERM: exit $rc: $out"
case $out in *"went on"*) fail "the bench went on after TERM: $out" ;; esac
[ -n "$out" ] && [ ! -e "$out" ] || fail "TERM: its temp dir $out stays"
echo "PASS"
