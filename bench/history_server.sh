# history_server.sh: sourced (not run) by bench/load.sh and
# bench/dashboard_bench.sh. Parses an optional leading `--build DIR`, makes a
# temp dir (removed on exit, with the server), brings the build's libkestrel.a
# (and its kestrel, unless KESTREL names another) up to date, builds
# bench/fill_history.c against that library (it writes a study of N real
# trials into a history) and serves $tmp/k.db with `kestrel serve` on a free loopback port.
#   . "$here/history_server.sh"     (after `here` is set; it reads "$@")
#   history_build                   -> $tmp/fill_history DB STUDY N [MAX_TRIALS]
#   history_serve                   -> $base (http://127.0.0.1:PORT), $server
#                                      (exit 1 when it does not start within
#                                      HISTORY_START_S seconds, default 60)
build=.
if [ "${1:-}" = "--build" ]; then
    build=$2
    shift 2
fi
KESTREL=${KESTREL:-$build/kestrel}

tmp=$(mktemp -d /tmp/kestrel-bench.XXXXXX)
server=
history_cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$tmp"
}
trap history_cleanup EXIT
# a signal ends the bench (EXIT then cleans up): a trap that only cleaned up
# let the bench go on without its server
trap 'exit 130' INT
trap 'exit 143' TERM

history_build() {
    # make, not a test for the file: a library or binary older than its
    # sources would be measured in place of the code as it is
    make -s -C "$build" libkestrel.a
    [ "$KESTREL" != "$build/kestrel" ] || make -s -C "$build" kestrel
    # shellcheck disable=SC2046
    ${CC:-gcc} -std=gnu11 -O2 -pthread -I"$build" -I"$here/../common" -I"$here/../src" -I"$here/../search" \
        $(pkg-config --cflags jansson sqlite3) "$here/fill_history.c" "$build/libkestrel.a" \
        $(pkg-config --libs jansson sqlite3 gsl openblas libmicrohttpd zlib | sed 's/-lgslcblas//') \
        -lm -o "$tmp/fill_history"
}

history_serve() {
    "$KESTREL" serve --db "$tmp/k.db" --listen 127.0.0.1:0 >"$tmp/out" 2>"$tmp/err" &
    server=$!
    # a server that cannot start (an older binary on a newer schema) has
    # exited, and one that hangs before its "listening on" line is given
    # HISTORY_START_S seconds (60 by default, far past a start): its error
    # ends the bench instead of a wait for ever
    started=$(date +%s)
    while ! grep -q '^listening on' "$tmp/out" 2>/dev/null; do
        if ! kill -0 "$server" 2>/dev/null; then
            echo "kestrel serve did not start:" >&2
            cat "$tmp/err" >&2
            server=
            exit 1
        fi
        if [ $(($(date +%s) - started)) -ge "${HISTORY_START_S:-60}" ]; then
            echo "kestrel serve (pid $server) did not say 'listening on' within ${HISTORY_START_S:-60} s" \
                 "(HISTORY_START_S); stopped; its stderr:" >&2
            cat "$tmp/err" >&2
            kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
            server=
            exit 1
        fi
        sleep 0.1
    done
    base=$(sed -n 's|^listening on \(http://[^ ]*\)/$|\1|p' "$tmp/out")
}
