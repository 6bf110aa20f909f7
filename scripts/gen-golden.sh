#!/usr/bin/env bash
# Regenerates the golden files that Go tests compare against, written by the real Java
# classes (Debian libtomcat10-java, Java 17; see scripts/install-test-deps.sh). Each kind
# is one generator in interop/java:
#
#   wire     wire/testdata/golden      Tribes' byte formats (TribesPeer golden)
#   jserial  jserial/testdata          streams of the JVM's ObjectOutputStream, each read back
#                                      with ObjectInputStream before it is kept (JserialGolden.java)
#   rpc      rpc/testdata              RpcMessage and RpcMessage$NoRpcChannelReply (RpcPeer.java)
#   replmap  replmap/testdata          AbstractReplicatedMap$MapMessage of every kind the maps
#                                      send (MapGolden.java)
#   session  session/delta/testdata/java
#                                      SessionMessageImpl streams from catalina-ha: every event,
#                                      DeltaRequest with every action type, ALL_SESSION_DATA,
#                                      principals with attributes and user principals
#                                      (tomcat/SessionGolden.java)
#   backup   session/backup/testdata/java
#                                      what BackupManager's map holds: DeltaSession streams and
#                                      DeltaSession.getDiff() streams (tomcat/BackupGolden.java)
#   farm     farm/testdata/java        FarmWarDeployer's messages: FileMessage chunks (full, short
#                                      last chunk in the reused buffer, empty) and an
#                                      UndeployMessage (tomcat/FarmGolden.java)
#   sso      session/sso/testdata/java
#                                      SingleSignOnEntry streams: with a GenericPrincipal, without
#                                      a principal, all fields null, with a session key
#                                      (tomcat/SsoGolden.java)
#
# Usage: scripts/gen-golden.sh [wire|jserial|rpc|replmap|session|backup|farm|sso] [outdir]   (default: wire, its directory)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kind="${1:-wire}"
j=/usr/share/java
tribes="$j/tomcat10-tribes.jar:$j/tomcat10-juli.jar"
case "$kind" in
  wire) dir=wire/testdata/golden; sources=("$root"/interop/java/*.java); run=(TribesPeer golden); jars="${TRIBES_JARS:-$tribes}" ;;
  jserial) dir=jserial/testdata; sources=("$root"/interop/java/*.java); run=(TribesPeer jserial-golden); jars="${TRIBES_JARS:-$tribes}" ;;
  replmap) dir=replmap/testdata; sources=("$root"/interop/java/*.java); run=(TribesPeer map-golden); jars="${TRIBES_JARS:-$tribes}" ;;
  rpc) dir=rpc/testdata; sources=("$root"/interop/java/*.java); run=(TribesPeer rpc-golden); jars="${TRIBES_JARS:-$tribes}" ;;
  session)
    dir=session/delta/testdata/java; sources=("$root"/interop/java/tomcat/SessionGolden.java); run=(SessionGolden)
    jars="${TOMCAT_JARS:-$j/tomcat10-catalina-ha.jar:$j/tomcat10-catalina.jar:$tribes:$j/tomcat10-servlet-api.jar:$j/tomcat10-util.jar:$j/tomcat10-util-scan.jar:$j/tomcat10-api.jar:$j/tomcat10-coyote.jar:$j/tomcat10-jaspic-api.jar:$j/tomcat10-annotations-api.jar}" ;;
  backup)
    dir=session/backup/testdata/java; sources=("$root"/interop/java/tomcat/BackupGolden.java); run=(BackupGolden)
    jars="${TOMCAT_JARS:-$j/tomcat10-catalina-ha.jar:$j/tomcat10-catalina.jar:$tribes:$j/tomcat10-servlet-api.jar:$j/tomcat10-util.jar:$j/tomcat10-util-scan.jar:$j/tomcat10-api.jar:$j/tomcat10-coyote.jar:$j/tomcat10-jaspic-api.jar:$j/tomcat10-annotations-api.jar}" ;;
  farm)
    dir=farm/testdata/java; sources=("$root"/interop/java/tomcat/FarmGolden.java); run=(FarmGolden)
    jars="${TOMCAT_JARS:-$j/tomcat10-catalina-ha.jar:$j/tomcat10-catalina.jar:$tribes:$j/tomcat10-servlet-api.jar:$j/tomcat10-util.jar:$j/tomcat10-util-scan.jar:$j/tomcat10-api.jar:$j/tomcat10-coyote.jar:$j/tomcat10-jaspic-api.jar:$j/tomcat10-annotations-api.jar}" ;;
  sso)
    dir=session/sso/testdata/java; sources=("$root"/interop/java/tomcat/SsoGolden.java); run=(SsoGolden)
    jars="${TOMCAT_JARS:-$j/tomcat10-catalina-ha.jar:$j/tomcat10-catalina.jar:$tribes:$j/tomcat10-servlet-api.jar:$j/tomcat10-util.jar:$j/tomcat10-util-scan.jar:$j/tomcat10-api.jar:$j/tomcat10-coyote.jar:$j/tomcat10-jaspic-api.jar:$j/tomcat10-annotations-api.jar}" ;;
  *) echo "gen-golden: unknown kind $kind (wire, jserial, rpc, replmap, session, backup, farm or sso)" >&2; exit 2 ;;
esac
out="${2:-$root/$dir}"

for t in java javac; do
  command -v "$t" >/dev/null || { echo "gen-golden: $t not found (run scripts/install-test-deps.sh)" >&2; exit 1; }
done
IFS=: read -r -a jarlist <<<"$jars"
for jar in "${jarlist[@]}"; do
  [ -r "$jar" ] || { echo "gen-golden: $jar not found (run scripts/install-test-deps.sh)" >&2; exit 1; }
done

classes="$(mktemp -d "${TMPDIR:-/tmp}/gotribes-golden-XXXXXX")"
trap 'rm -rf "$classes"' EXIT

javac -nowarn -encoding UTF-8 -d "$classes" -cp "$jars" "${sources[@]}"
mkdir -p "$out"
if [ "$kind" != wire ]; then rm -f "$out"/*.ser; fi
java -Djava.net.preferIPv4Stack=true -cp "$classes:$jars" "${run[@]}" "$out" >/dev/null
echo "gen-golden: wrote $(ls "$out" | grep -cv README) $kind files to $out" >&2
