#!/usr/bin/env bash
# Installs redis-server and redis-cli from Debian's packages when they are not on PATH.
# The tests start their own servers on free loopback ports; nothing is started here.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
command -v redis-server >/dev/null && command -v redis-cli >/dev/null
