#!/usr/bin/env bash
# Rebuild the web page's vendored front-end libraries from the npm registry.
# Versions are pinned in web/vendor-src/package.json + package-lock.json; the built files, their
# licenses and a VERSIONS file land in src/tyler/server/static/vendor (committed: users need no
# build step and no CDN). Usage: ./scripts/vendor-web.sh
set -euo pipefail
cd "$(dirname "$0")/../web/vendor-src"
npm ci --no-audit --no-fund
out=../../src/tyler/server/static/vendor
mkdir -p "$out"
cp node_modules/marked/lib/marked.umd.js "$out/marked.umd.js"
cp node_modules/marked/LICENSE "$out/LICENSE.marked"
cp node_modules/dompurify/dist/purify.min.js "$out/purify.min.js"
cp node_modules/dompurify/LICENSE "$out/LICENSE.dompurify"
node -e '
const lock = require("./package-lock.json");
const lines = ["marked", "dompurify"].map(n => `${n} ${lock.packages["node_modules/" + n].version} ${lock.packages["node_modules/" + n].integrity}`);
process.stdout.write(lines.join("\n") + "\n");
' > "$out/VERSIONS"
cat "$out/VERSIONS"
