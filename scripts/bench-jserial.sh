#!/usr/bin/env bash
# Compares jserial with Java's own serialization on the same object graph, in one run:
# the Go benchmarks BenchmarkDecodeSessionGraph / BenchmarkEncodeSessionGraph and
# `TribesPeer jserial-bench` (interop/java/JserialBench.java: a new ObjectInputStream /
# ObjectOutputStream per object, as Tribes does). Each side measures ROUNDS rounds of
# about one second after warming up (Java: 3 s of JIT warm-up); the best round of each
# counts, which keeps other load on the machine out of the comparison as far as it goes.
# Prints wall-clock ns/op and process CPU ns/op (all threads: GC, and Java's JIT) of both
# and the ratios; CPU time is the figure to trust on a busy machine. Needs Java 17 and the Tribes jars the peer compiles against
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
# -Xbatch: the JIT compiles in the benchmark thread, so that the warm-up ends with
# compiled code even when the machine is busy (background compiler threads can starve).
java_json="$(java -Xbatch -cp "$classes:$jars" TribesPeer jserial-bench --rounds "$rounds" \
  --golden "$root/jserial/testdata/session_graph.ser" | grep '"jserialBench"')"
echo "$java_json" >&2

# best BENCH COLUMN-UNIT: the lowest value of that metric over the rounds.
best() {
  echo "$gobench" | awk -v b="$1" -v unit="$2" '$1 ~ "^"b"(-[0-9]+)?$" {
    for (i = 3; i <= NF; i++) if ($(i+1) == unit && (m == "" || $i + 0 < m + 0)) m = $i
  } END {print m}'
}
jfield() { echo "$java_json" | sed "s/.*\"$1\":\([0-9]*\).*/\1/"; }
ratio() { echo "$1 $2" | awk '{printf "%.2fx", $1 / $2}'; }
go_dec="$(best BenchmarkDecodeSessionGraph ns/op)"
go_enc="$(best BenchmarkEncodeSessionGraph ns/op)"
go_dec_cpu="$(best BenchmarkDecodeSessionGraph cpu-ns/op)"
go_enc_cpu="$(best BenchmarkEncodeSessionGraph cpu-ns/op)"
java_dec="$(jfield decodeNs)"
java_enc="$(jfield encodeNs)"
java_dec_cpu="$(jfield decodeCpuNs)"
java_enc_cpu="$(jfield encodeCpuNs)"
printf '%-7s %10s %11s %8s   %14s %15s %8s\n' op "Go ns/op" "Java ns/op" Java/Go "Go CPU ns/op" "Java CPU ns/op" Java/Go
for op in decode encode; do
  if [ "$op" = decode ]; then g=$go_dec j=$java_dec gc=$go_dec_cpu jc=$java_dec_cpu; else g=$go_enc j=$java_enc gc=$go_enc_cpu jc=$java_enc_cpu; fi
  printf '%-7s %10s %11s %8s   %14s %15s %8s\n' "$op" "$g" "$j" "$(ratio "$j" "$g")" "$gc" "$jc" "$(ratio "$jc" "$gc")"
done
