package web

import "embed"

// sendStatic is send mode's page: its HTML, script and style, and the
// vendored BLAKE3 (hash-wasm) it computes MACs with.
//
//go:embed static/send.html static/send.js static/send.css static/vendor/blake3.umd.min.js
var sendStatic embed.FS
