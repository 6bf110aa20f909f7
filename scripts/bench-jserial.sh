#!/usr/bin/env bash
# Compares jserial with Java's own serialization on the same object graph, in one run:
# the Go benchmarks BenchmarkDecodeSessionGraph / BenchmarkEncodeSessionGraph and
# `TribesPeer jserial-bench` (interop/java/JserialBench.java: a new ObjectInputStream /
# ObjectOutputStream per object, as Tribes does), then prints ns/op of both and the ratio.
# Needs Java 17 and the Tribes jars the peer compiles against (scripts/install-test-deps.sh).
#
# Usage: scripts/bench-jserial.sh [seconds per measurement, default 3]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-3}"
jars="${TRIBES_JARS:-/usr/share/java/tomcat10-tribes.jar:/usr/share/java/tomcat10-juli.jar}"

for t in go java javac; do
  command -v "$t" >/dev/null || { echo "bench-jserial: $t not found (run scripts/install-test-deps.sh)" >&2; exit 1; }
done
classes="$(mktemp -d "${TMPDIR:-/tmp}/gotribes-jserial-bench-XXXXXX")"
trap 'rm -rf "$classes"' EXIT
javac -nowarn -encoding UTF-8 -d "$classes" -cp "$jars" "$root"/interop/java/*.java

gobench="$(cd "$root" && go test -run '^$' -bench 'SessionGraph$' -benchmem -benchtime "${secs}s" ./jserial/)"
echo "$gobench" | grep '^Benchmark' >&2
java_json="$(java -cp "$classes:$jars" TribesPeer jserial-bench --warmup-ms "$((secs * 1000))" \
  --measure-ms "$((secs * 1000))" --golden "$root/jserial/testdata/session_graph.ser" | grep '"jserialBench"')"
echo "$java_json" >&2

go_dec="$(echo "$gobench" | awk '/^BenchmarkDecodeSessionGraph/ {print $3}')"
go_enc="$(echo "$gobench" | awk '/^BenchmarkEncodeSessionGraph/ {print $3}')"
java_dec="$(echo "$java_json" | sed 's/.*"decodeNs":\([0-9]*\).*/\1/')"
java_enc="$(echo "$java_json" | sed 's/.*"encodeNs":\([0-9]*\).*/\1/')"
printf '%-8s %12s %12s %8s\n' op "Go ns/op" "Java ns/op" Java/Go
printf '%-8s %12s %12s %7.2fx\n' decode "$go_dec" "$java_dec" "$(echo "$java_dec $go_dec" | awk '{print $1 / $2}')"
printf '%-8s %12s %12s %7.2fx\n' encode "$go_enc" "$java_enc" "$(echo "$java_enc $go_enc" | awk '{print $1 / $2}')"
