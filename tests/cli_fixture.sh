# cli_fixture.sh: what the shell tests of the real `kestrel` binary share,
# sourced after fixture=NAME: the binary ($KESTREL), the source tree
# ($top_srcdir), a fresh folder /tmp/kestrel-NAME.XXXXXX to work in, removed
# at exit with any background job still running, and ok/no/check with the
# counts of what passed and failed.
set -u
KESTREL=${KESTREL:-$(pwd)/kestrel}
top_srcdir=${top_srcdir:-$(pwd)}
T=$(mktemp -d "/tmp/kestrel-$fixture.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$T"' EXIT
cd "$T"
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
no() { fail=$((fail + 1)); echo "FAIL - $1"; }
check() { if eval "$2"; then ok "$1"; else no "$1"; fi; }
