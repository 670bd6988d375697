// The upload page's chunk hasher, off the page's main thread: it reads
// bytes [start, end) of a File and answers their BLAKE3-256 (hex), so the
// page's thread stays free to start the next PATCH the moment one ends.
"use strict";

importScripts("/static/vendor/blake3.umd.min.js");

let hasher = null;

onmessage = async (e) => {
  const { id, file, start, end } = e.data;
  try {
    const t0 = performance.now();
    const buf = new Uint8Array(await file.slice(start, end).arrayBuffer());
    const t1 = performance.now();
    if (!hasher) hasher = await hashwasm.createBLAKE3(256);
    // init, update and digest are synchronous: requests cannot interleave here
    hasher.init();
    hasher.update(buf);
    postMessage({ id, hash: hasher.digest("hex"), readMs: t1 - t0, hashMs: performance.now() - t1 });
  } catch (err) {
    postMessage({ id, error: String(err) });
  }
};
