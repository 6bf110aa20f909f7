#!/usr/bin/env bash
# Regenerates session/delta/testdata/java/*.ser: SessionMessageImpl streams (every event,
# DeltaRequest bytes with every action type, the ALL_SESSION_DATA block) written by the
# real catalina-ha classes and the JVM's ObjectOutputStream
# (interop/java/tomcat/SessionGolden.java). Needs Java 17 and the Tomcat jars: see
# scripts/install-test-deps.sh.
#
# Usage: scripts/gen-session-golden.sh [outdir]   (default: session/delta/testdata/java)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/session/delta/testdata/java}"
j=/usr/share/java
jars="${TOMCAT_JARS:-$j/tomcat10-catalina-ha.jar:$j/tomcat10-catalina.jar:$j/tomcat10-tribes.jar:$j/tomcat10-juli.jar:$j/tomcat10-servlet-api.jar:$j/tomcat10-util.jar:$j/tomcat10-util-scan.jar:$j/tomcat10-api.jar:$j/tomcat10-coyote.jar:$j/tomcat10-jaspic-api.jar:$j/tomcat10-annotations-api.jar}"

for t in java javac; do
  command -v "$t" >/dev/null || { echo "gen-session-golden: $t not found (run scripts/install-test-deps.sh)" >&2; exit 1; }
done

classes="$(mktemp -d "${TMPDIR:-/tmp}/gotribes-session-golden-XXXXXX")"
trap 'rm -rf "$classes"' EXIT

javac -nowarn -encoding UTF-8 -d "$classes" -cp "$jars" "$root"/interop/java/tomcat/SessionGolden.java
mkdir -p "$out"
rm -f "$out"/*.ser
java -cp "$classes:$jars" SessionGolden "$out"
echo "gen-session-golden: wrote $(ls "$out"/*.ser | wc -l) files to $out" >&2
