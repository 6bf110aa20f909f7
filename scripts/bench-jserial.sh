#!/usr/bin/env bash
# Compares jserial with Java's own serialization on the same object graph, in one run:
# the Go benchmarks BenchmarkDecodeSessionGraph / BenchmarkEncodeSessionGraph and
# `TribesPeer jserial-bench` (interop/java/JserialBench.java: a new ObjectInputStream /
# ObjectOutputStream per object, as Tribes does). Each side measures ROUNDS rounds of
# about one second after warming up (Java: 3 s of JIT warm-up); the best round of each
# counts, which keeps other load on the machine out of the comparison. Prints ns/op of
# both and the ratio. Needs Java 17 and the Tribes jars the peer compiles against
# (scripts/install-test-deps.sh).
#
# Usage: scripts/bench-jserial.sh [ROUNDS, default 5]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-5}"
jars="${TRIBES_JARS:-/usr/share/java/tomcat10-tribes.jar:/usr/share/java/tomcat10-juli.jar}"

for t in go java javac; do
  command -v "$t" >/dev/null || { echo "bench-jserial: $t not found (run scripts/install-test-deps.sh)" >&2; exit 1; }
done
classes="$(mktemp -d "${TMPDIR:-/tmp}/gotribes-jserial-bench-XXXXXX")"
trap 'rm -rf "$classes"' EXIT
javac -nowarn -encoding UTF-8 -d "$classes" -cp "$jars" "$root"/interop/java/*.java

gobench="$(cd "$root" && go test -run '^$' -bench 'SessionGraph$' -benchmem -benchtime 1s -count "$rounds" ./jserial/)"
echo "$gobench" | grep '^Benchmark' >&2
java_json="$(java -cp "$classes:$jars" TribesPeer jserial-bench --rounds "$rounds" \
  --golden "$root/jserial/testdata/session_graph.ser" | grep '"jserialBench"')"
echo "$java_json" >&2

best() { echo "$gobench" | awk -v b="$1" '$1 ~ "^"b"(-[0-9]+)?$" {if (m == "" || $3 < m) m = $3} END {print m}'; }
go_dec="$(best BenchmarkDecodeSessionGraph)"
go_enc="$(best BenchmarkEncodeSessionGraph)"
java_dec="$(echo "$java_json" | sed 's/.*"decodeNs":\([0-9]*\).*/\1/')"
java_enc="$(echo "$java_json" | sed 's/.*"encodeNs":\([0-9]*\).*/\1/')"
printf '%-8s %12s %12s %8s\n' op "Go ns/op" "Java ns/op" Java/Go
printf '%-8s %12s %12s %7.2fx\n' decode "$go_dec" "$java_dec" "$(echo "$java_dec $go_dec" | awk '{print $1 / $2}')"
printf '%-8s %12s %12s %7.2fx\n' encode "$go_enc" "$java_enc" "$(echo "$java_enc $go_enc" | awk '{print $1 / $2}')"
