#!/usr/bin/env bash
# The Debian package-index classification set: refreshes the index (apt-get update, as root)
# and writes OUT/train.csv, OUT/test.csv and OUT/labels.txt (see debian_set.py). The data is
# Debian's: never commit it.
# usage: bash bench/classify/debian_set.sh OUT [debian_set.py flags]
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 OUT [--labels N] [--test-percent P] [--force]" >&2; exit 2; }
if [ "$(id -u)" -eq 0 ]; then apt-get update -qq; fi
apt-cache dumpavail | python3 "$(dirname "$0")/debian_set.py" "$@"
