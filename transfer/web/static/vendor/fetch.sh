#!/usr/bin/env bash
# Re-fetch the vendored scripts of ferry's web page from the npm registry at
# their pinned versions and check them against SHA256SUMS (make web-vendor).
# Nothing in this folder changes unless every file matches its pinned hash:
# a mismatch means the registry served something other than what was
# reviewed, and the script fails.
#
#   tus-js-client 4.3.1  dist/tus.min.js            LICENSE -> LICENSE.tus-js-client
#   hash-wasm     4.13.0 dist/blake3.umd.min.js     LICENSE -> LICENSE.hash-wasm
#
# To move to a new version: change the pins below, run with UPDATE=1 (writes
# a new SHA256SUMS), review the diff of the scripts, commit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# npm pack checks each tarball against the registry's sha512 integrity.
(cd "$tmp" && npm pack --silent tus-js-client@4.3.1 hash-wasm@4.13.0 >/dev/null)
mkdir -p "$tmp/tus" "$tmp/hw" "$tmp/out"
tar -xzf "$tmp/tus-js-client-4.3.1.tgz" -C "$tmp/tus"
tar -xzf "$tmp/hash-wasm-4.13.0.tgz" -C "$tmp/hw"
cp "$tmp/tus/package/dist/tus.min.js" "$tmp/out/tus.min.js"
cp "$tmp/tus/package/LICENSE" "$tmp/out/LICENSE.tus-js-client"
cp "$tmp/hw/package/dist/blake3.umd.min.js" "$tmp/out/blake3.umd.min.js"
cp "$tmp/hw/package/LICENSE" "$tmp/out/LICENSE.hash-wasm"

if [ "${UPDATE:-}" = 1 ]; then
  (cd "$tmp/out" && sha256sum tus.min.js LICENSE.tus-js-client blake3.umd.min.js LICENSE.hash-wasm) >"$tmp/SHA256SUMS"
  cp "$tmp/SHA256SUMS" "$here/SHA256SUMS"
fi
if ! (cd "$tmp/out" && sha256sum --quiet -c "$here/SHA256SUMS"); then
  echo "web-vendor: the registry's files do not match $here/SHA256SUMS; nothing changed" >&2
  exit 1
fi
cp "$tmp/out/"* "$here/"
(cd "$here" && sha256sum --quiet -c SHA256SUMS)
echo "web-vendor: tus-js-client 4.3.1 and hash-wasm 4.13.0 match SHA256SUMS"
