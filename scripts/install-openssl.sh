#!/usr/bin/env bash
# Installs the `openssl` command from Debian's packages when it is not on PATH (the TLS test,
# `cargo test -p cache-redis --features tls --test tls`, makes its certificates with it).
set -euo pipefail
if command -v openssl >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openssl >/dev/null
command -v openssl >/dev/null
