#!/usr/bin/env bash
# Installs what the interop tests need on a fresh Debian 12 machine (run as root, e.g. in CI):
#   a JDK 17 (only if javac is missing), libtomcat10-java (the real Tribes jars), tomcat10
#   (CATALINA_HOME for the tests that run real Tomcat nodes; its system service is disabled),
#   iptables, iproute2, tmux, and chromium (headless browser for cmd/tribesdemo's
#   end-to-end sessions test; large, so only if no chromium binary is on the PATH), and the
#   servers some tests start on loopback themselves: redis-server, haproxy, dnsmasq (their
#   system services are disabled), and the zstd CLI (real zstd frames for the Zstd
#   interceptor's tests).
# Idempotent and non-interactive: runs apt-get update/install only if something is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

missing=()

if command -v javac >/dev/null 2>&1 && command -v java >/dev/null 2>&1; then
  echo "install-test-deps: JDK present ($(javac -version 2>&1))"
else
  missing+=(openjdk-17-jdk-headless)
fi

pkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

for p in libtomcat10-java tomcat10 iptables iproute2 tmux redis-server haproxy dnsmasq zstd; do
  if pkg_installed "$p"; then
    echo "install-test-deps: $p already installed"
  else
    missing+=("$p")
  fi
done

if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  echo "install-test-deps: chromium present"
else
  missing+=(chromium)
fi

if [ ! -r /usr/share/java/tomcat10-tribes.jar ] && ! printf '%s\n' "${missing[@]:-}" | grep -qx libtomcat10-java; then
  # Package registered but jar gone: reinstall it.
  missing+=(libtomcat10-java)
  reinstall=1
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-test-deps: nothing to do"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi

echo "install-test-deps: apt-get update"
apt-get update -q
echo "install-test-deps: installing ${missing[*]}"
apt-get install -y -q --no-install-recommends ${reinstall:+--reinstall} \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"

for f in /usr/share/java/tomcat10-tribes.jar /usr/share/java/tomcat10-juli.jar /usr/share/tomcat10/bin/catalina.sh; do
  [ -r "$f" ] || { echo "install-test-deps: $f still missing" >&2; exit 1; }
done

# The tests start their own Tomcat nodes (each with a CATALINA_BASE of its own) and their own
# Redis, HAProxy and dnsmasq processes: no system instance may run (the packages enable
# their services).
for svc in tomcat10 redis-server haproxy dnsmasq; do
  if pkg_installed "$svc"; then
    systemctl disable "$svc" >/dev/null 2>&1 || update-rc.d "$svc" disable >/dev/null 2>&1 || true
  fi
done
command -v javac >/dev/null || { echo "install-test-deps: javac still missing" >&2; exit 1; }
echo "install-test-deps: done"
