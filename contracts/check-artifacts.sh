#!/bin/sh
# Rebuild the contracts with the pinned compiler and compare the result with
# the committed artifacts in ocnd/registry/artifacts.  Exit status 1 if they
# differ (someone changed a .sol file without rebuilding, or the build is not
# deterministic), 0 if they are byte-identical.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
committed="$here/../ocnd/registry/artifacts"

cd "$here"
if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --silent
else
    npm install --no-audit --no-fund --silent
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

node build.js "$tmp" >/dev/null

status=0
for name in Registry Permissions; do
    if ! cmp -s "$tmp/$name.json" "$committed/$name.json"; then
        echo "artifact $name.json is out of date; run 'node build.js' in contracts/" >&2
        diff -u "$committed/$name.json" "$tmp/$name.json" | head -n 40 >&2 || true
        status=1
    fi
done
[ "$status" -eq 0 ] && echo "contract artifacts are up to date"
exit "$status"
