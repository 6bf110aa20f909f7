#!/usr/bin/env bash
# Regenerates wire/testdata/golden/ from the real Apache Tomcat Tribes classes
# (Debian libtomcat10-java). Needs Java 17 and the jars: see
# scripts/install-test-deps.sh.
#
# Usage: scripts/gen-golden.sh [outdir]   (default: wire/testdata/golden)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/wire/testdata/golden}"
jars="${TRIBES_JARS:-/usr/share/java/tomcat10-tribes.jar:/usr/share/java/tomcat10-juli.jar}"

for t in java javac; do
  command -v "$t" >/dev/null || { echo "gen-golden: $t not found (run scripts/install-test-deps.sh)" >&2; exit 1; }
done
IFS=: read -r -a jarlist <<<"$jars"
for j in "${jarlist[@]}"; do
  [ -r "$j" ] || { echo "gen-golden: $j not found (run scripts/install-test-deps.sh)" >&2; exit 1; }
done

classes="$(mktemp -d "${TMPDIR:-/tmp}/gotribes-golden-XXXXXX")"
trap 'rm -rf "$classes"' EXIT

javac -nowarn -encoding UTF-8 -d "$classes" -cp "$jars" "$root"/interop/java/*.java
mkdir -p "$out"
java -Djava.net.preferIPv4Stack=true -cp "$classes:$jars" TribesPeer golden "$out"
echo "gen-golden: wrote $(ls "$out" | grep -cv README) files to $out" >&2
