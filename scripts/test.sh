#!/usr/bin/env bash
# The project's whole test run: installs what the tests need (Java 17, Debian's
# libtomcat10-java for the real Tribes peer, tomcat10 for the real Tomcat nodes, iptables/iproute2 for the multi-host bench),
# then checks that all of it is here (a missing piece fails the run instead of skipping
# tests), checks formatting, vets, runs every test with the race detector (interop tests
# against Java Tribes included), then without it the tests that skip under it
# (allocbound.WithoutRace), and each fuzz target for a bounded time.
#
#   scripts/test.sh            # everything (CI runs this through .ci/run)
#   FUZZTIME=30s scripts/test.sh
#   SKIP_INSTALL=1 scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

if [ -z "${SKIP_INSTALL:-}" ]; then
  bash scripts/install-test-deps.sh
fi

# Every test that needs something from the machine (Java and the Tribes jars, network
# namespaces, tmux, Chromium) fails here instead of skipping when it is missing
# (internal/testenv); `go test ./...` on a developer's machine still skips them.
export GOTRIBES_NO_SKIP=1

echo "== preflight"
missing=()
for tool in java javac ip iptables tmux redis-server haproxy dnsmasq zstd; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
for jar in /usr/share/java/tomcat10-tribes.jar /usr/share/java/tomcat10-juli.jar /usr/share/java/tomcat10-catalina-ha.jar \
  /usr/share/tomcat10/bin/catalina.sh; do
  [ -r "$jar" ] || missing+=("$jar")
done
if [ "$(id -u)" -ne 0 ]; then
  missing+=("root (network namespaces)")
elif ns="gotribes-preflight-$$" && ip netns add "$ns" 2>/dev/null; then
  ip netns del "$ns"
else
  missing+=("network namespace support (ip netns add failed)")
fi
if [ "${#missing[@]}" -gt 0 ]; then
  printf 'test.sh: missing: %s\n' "${missing[*]}" >&2
  echo "test.sh: run scripts/install-test-deps.sh as root (or use go test ./... for a partial run)" >&2
  exit 1
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
# 20 minutes a package: interop/tomcat starts many Tomcat JVMs and took over 10 on a loaded
# machine (2026-12-06, six other test runs beside it).
# -vet=off here and below: go test's vet is a subset of go vet's default checks, which
# go vet ./... above ran on every package and its tests (a failure there ends the run), and
# go test would run it again on every package changed since its last run (its cache key
# is not go vet's). The race-only files (//go:build race) it alone would see declare
# constants only. The subset on the whole module, none of it cached, took 84 s of user
# CPU time (2026-12-08, load 18).
go test -race -vet=off -count=1 -timeout 1200s ./...

echo "== go test without -race (the tests that skip under it)"
# A test that only runs a decoder on one goroutine over large inputs calls
# allocbound.WithoutRace: it skips under -race (which can find nothing there, runs it five
# to ten times slower and doubles its allocation bound) and runs here, found by that call
# as the fuzz targets below are found by their names. One go test runs every such
# package's tests, two packages at a time (each test takes one core), with one -run
# pattern of all their names: a package's test named as another package's such test runs
# too (none is today). A go test per package, one after the other, took 332 and 253 s, this
# 144 and 200 s (load 15 to 20, other work beside it).
dirs=() names=()
while read -r dir; do
  dirs+=("$dir")
  names+=($(awk 'FNR == 1 { name = "" } /^func Test[A-Za-z0-9_]*\(/ { name = $2; sub(/\(.*/, "", name) } /allocbound\.WithoutRace\(/ && name != "" { print name }' "$dir"/*_test.go))
done < <(grep -rl --include='*_test.go' 'allocbound\.WithoutRace(' . | xargs -r dirname | sort -u)
if [ "${#dirs[@]}" -gt 0 ]; then
  pattern="^($(printf '%s\n' "${names[@]}" | sort -u | paste -sd'|'))\$"
  echo "-- ${dirs[*]} $pattern"
  go test -vet=off -count=1 -timeout 1200s -run "$pattern" "${dirs[@]}"
fi

echo "== fuzz (each target ${FUZZTIME:=8s})"
# Every Fuzz* function in the module, run one at a time for a bounded time. Each package's
# test binary is built once, instrumented as `go test -fuzz` builds it (`go test -c -fuzz`
# instruments the same packages whatever the pattern), and run for each of its targets as
# `go test -fuzz` runs it: in the package's directory (its testdata/fuzz seeds) with the
# go command's fuzz cache for the package (the corpus found is kept for later runs).
# `go test -fuzz` per target checked and linked it anew each time: the 57 targets (23
# packages) at FUZZTIME=1s took 326 s that way, 240 and 226 s this way (load 12-16, the
# build cache warm).
fuzzdir=$(mktemp -d)
trap 'rm -rf "$fuzzdir"' EXIT
fuzzcache="$(go env GOCACHE)/fuzz"
module=$(go list -m)
grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u | while read -r dir; do
  pkg="./${dir#./}"
  importpath="$module${dir#.}"
  bin="$fuzzdir/$(echo "$importpath" | tr / _).test"
  echo "-- $pkg: building its fuzz binary"
  go test -c -fuzz . -o "$bin" "$pkg"
  fuzz() { # target, -test.fuzztime
    (cd "$pkg" && "$bin" -test.paniconexit0 -test.fuzzcachedir="$fuzzcache/$importpath" -test.timeout=10m0s \
      -test.run='^$' -test.fuzz="^$1\$" -test.fuzztime="$2")
  }
  for fn in $(cat "$pkg"/*_test.go | grep -o '^func Fuzz[A-Za-z0-9_]*' | cut -d' ' -f2); do
    echo "-- $pkg $fn"
    log="$fuzzdir/log"
    if ! fuzz "$fn" "$FUZZTIME" 2>&1 | tee "$log"; then
      # Go 1.26's fuzz coordinator can report a bare "context deadline exceeded"
      # when -fuzztime expires while a worker is mid-call (go.dev/issue/75804,
      # fixed in Go 1.27). That is no finding: nothing is written to testdata.
      # Only that exact case is run again, with a count budget, which has no
      # deadline to race: as many inputs as the first run tried (at least 1000), so
      # that a target slow per input (FuzzReadAck's real connections) takes about as
      # long again; FUZZCOUNT overrides it. Any other failure fails the run.
      if grep -q 'context deadline exceeded' "$log" && ! grep -Eq 'Failing input written|panic:|_test\.go:[0-9]+:' "$log"; then
        execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
        count=${FUZZCOUNT:-$(( ${execs:-0} > 1000 ? ${execs:-0} : 1000 ))x}
        echo "-- $pkg $fn: Go's fuzz deadline race (go.dev/issue/75804), again with -fuzztime $count"
        fuzz "$fn" "$count"
      else
        echo "FAIL $pkg $fn"
        exit 1
      fi
    fi
  done
done
echo "== all tests passed"
