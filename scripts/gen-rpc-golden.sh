#!/usr/bin/env bash
# Regenerates rpc/testdata/*.ser: RpcMessage and RpcMessage$NoRpcChannelReply streams
# written by the real Tribes classes and the JVM's ObjectOutputStream
# (interop/java/RpcPeer.java, run as `TribesPeer rpc-golden`). Needs Java 17 and the Tribes
# jars: see scripts/install-test-deps.sh.
#
# Usage: scripts/gen-rpc-golden.sh [outdir]   (default: rpc/testdata)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/rpc/testdata}"
jars="${TRIBES_JARS:-/usr/share/java/tomcat10-tribes.jar:/usr/share/java/tomcat10-juli.jar}"

for t in java javac; do
  command -v "$t" >/dev/null || { echo "gen-rpc-golden: $t not found (run scripts/install-test-deps.sh)" >&2; exit 1; }
done

classes="$(mktemp -d "${TMPDIR:-/tmp}/gotribes-rpc-golden-XXXXXX")"
trap 'rm -rf "$classes"' EXIT

javac -nowarn -encoding UTF-8 -d "$classes" -cp "$jars" "$root"/interop/java/*.java
mkdir -p "$out"
rm -f "$out"/*.ser
java -cp "$classes:$jars" TribesPeer rpc-golden "$out" >/dev/null
echo "gen-rpc-golden: wrote $(ls "$out"/*.ser | wc -l) files to $out" >&2
