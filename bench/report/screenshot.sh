#!/usr/bin/env bash
# A PNG of an `ordo report` page as a browser draws it (Debian's chromium, headless), to look at.
# usage: bench/report/screenshot.sh REPORT.html OUT.png [WIDTH [HEIGHT]]
#   (apt-get install chromium; the page is tall: HEIGHT defaults to 4000 pixels)
set -eu
html=$(realpath "$1")
out=$(realpath -m "$2")
w=${3:-1400}
h=${4:-4000}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "screenshot.sh: chromium not found (apt-get install chromium)" >&2; exit 1; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# --no-sandbox: chromium refuses to run as root with its sandbox
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
  --window-size="$w,$h" --screenshot="$out" "file://$html" >/dev/null 2>&1
[ -s "$out" ] || { echo "screenshot.sh: no screenshot written" >&2; exit 1; }
echo "wrote $out (${w}x${h})"
