#!/usr/bin/env bash
# Regenerates jserial/testdata/*.ser: Java serialization streams written by the JVM's own
# ObjectOutputStream (interop/java/JserialGolden.java, run as `TribesPeer jserial-golden`),
# each read back with ObjectInputStream before it is kept. Needs Java 17 and the Tribes
# jars the peer compiles against: see scripts/install-test-deps.sh.
#
# Usage: scripts/gen-jserial-golden.sh [outdir]   (default: jserial/testdata)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/jserial/testdata}"
jars="${TRIBES_JARS:-/usr/share/java/tomcat10-tribes.jar:/usr/share/java/tomcat10-juli.jar}"

for t in java javac; do
  command -v "$t" >/dev/null || { echo "gen-jserial-golden: $t not found (run scripts/install-test-deps.sh)" >&2; exit 1; }
done

classes="$(mktemp -d "${TMPDIR:-/tmp}/gotribes-jserial-golden-XXXXXX")"
trap 'rm -rf "$classes"' EXIT

javac -nowarn -encoding UTF-8 -d "$classes" -cp "$jars" "$root"/interop/java/*.java
mkdir -p "$out"
rm -f "$out"/*.ser
java -cp "$classes:$jars" TribesPeer jserial-golden "$out"
echo "gen-jserial-golden: wrote $(ls "$out"/*.ser | wc -l) files to $out" >&2
