#!/usr/bin/env bash
# The project's whole test run: installs what the tests need (Java 17, Debian's
# libtomcat10-java for the real Tribes peer, iptables/iproute2 for the multi-host bench),
# then checks formatting, vets, runs every test with the race detector (interop tests
# against Java Tribes included) and each fuzz target for a bounded time.
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

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 -timeout 600s ./...

echo "== fuzz (each target ${FUZZTIME:=8s})"
# Every Fuzz* function in the module, run one at a time for a bounded time.
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
  pkg="./$(dirname "${f#./}")"
  for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
    echo "-- $pkg $fn"
    go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$FUZZTIME" "$pkg"
  done
done
echo "== all tests passed"
