#!/usr/bin/env bash
# Installs the Debian packages the build needs, only when they are missing.
set -euo pipefail
pkgs=(cmake make gcc pkg-config libopenblas-dev libopenblas-openmp-dev libcjson-dev libutf8proc-dev zlib1g-dev
      libopenmpi-dev openmpi-bin)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
