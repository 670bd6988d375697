// The upload page of `ferry receive --web`: offer the picked files, show
// the verification code, upload each file with tus 1.0 (HEAD, then one
// chunk per PATCH, each with its BLAKE3 in X-Ferry-Chunk-Hash), and show
// what the computer made of each file. Names are only ever set as text.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  // wire: chunk bytes this page put in PATCH requests, sent again included.
  const state = { key: null, files: [], answer: null, sent: 0, total: 0, items: [], events: null, over: false, wire: 0, readMs: 0, hashMs: 0, sendMs: 0 };
  window.ferryState = state; // for tests and the curious

  function problem(text) {
    const p = $("problem");
    p.textContent = text;
    p.hidden = !text;
  }

  function message(text) {
    $("message").textContent = text;
  }

  function human(n) {
    const u = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return (i ? n.toFixed(n < 10 ? 1 : 0) : n) + " " + u[i];
  }

  function clientID() {
    let id = null;
    try { id = localStorage.getItem("ferry-client"); } catch (e) { /* storage off */ }
    if (!/^[0-9a-f]{32}$/.test(id || "")) {
      id = FerryAuth.randomHex(16);
      try { localStorage.setItem("ferry-client", id); } catch (e) { /* a new id per load */ }
    }
    return id;
  }

  async function request(method, target, body, headers, bodyBind) {
    const h = Object.assign({}, headers || {});
    h["X-Ferry-Auth"] = await FerryAuth.sign(state.key, method, target, bodyBind || "");
    return fetch(target, { method, headers: h, body, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" });
  }

  function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

  // --- the list -----------------------------------------------------------

  function showList(files) {
    const ul = $("list");
    ul.replaceChildren();
    state.items = files.map((f) => {
      const li = document.createElement("li");
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = f.path;
      const bar = document.createElement("progress");
      bar.max = Math.max(f.file.size, 1);
      bar.value = 0;
      const st = document.createElement("span");
      st.className = "state";
      st.textContent = human(f.file.size) + " · waiting";
      li.append(name, bar, st);
      ul.append(li);
      return { li, bar, st, done: 0 };
    });
  }

  function fileProgress(i, done) {
    const it = state.items[i];
    state.sent += done - it.done;
    it.done = done;
    it.bar.value = done;
    const f = state.files[i];
    if (!it.li.classList.contains("done") && !it.li.classList.contains("failed")) {
      it.st.textContent = human(done) + " of " + human(f.file.size);
    }
    $("total").max = Math.max(state.total, 1);
    $("total").value = state.sent;
    $("total-text").textContent = human(state.sent) + " / " + human(state.total);
  }

  function fileResult(r) {
    const it = state.items[r.index];
    if (!it) return;
    if (r.error) {
      it.li.classList.add("failed");
      it.st.textContent = "failed: " + r.error;
    } else {
      it.li.classList.add("done");
      it.bar.value = it.bar.max;
      it.st.textContent = "saved as " + r.name + " · " + human(r.size);
      it.saved = true;
    }
  }

  // --- the offer ------------------------------------------------------------

  async function offer(files) {
    const body = JSON.stringify({
      client: clientID(),
      files: files.map((f) => ({ path: f.path, size: f.file.size, mtime: Math.max(0, Math.floor(f.file.lastModified || 0)) })),
    });
    const bytes = new TextEncoder().encode(body);
    const hash = await FerryAuth.bodyHash(bytes);
    $("code").textContent = await FerryAuth.code(state.key, hash);
    $("status").hidden = false;
    message("Waiting for the computer to accept…");
    const resp = await request("POST", "/api/v1/offer", bytes, { "Content-Type": "application/json" }, hash);
    let ans = {};
    try { ans = await resp.json(); } catch (e) { /* not JSON */ }
    if (resp.status === 200) return ans;
    if (resp.status === 401 || resp.status === 421) {
      throw new Error("This page's link is no longer valid (the computer restarted ferry?). Scan the new code and pick the files again.");
    }
    if (resp.status === 403) throw new Error("The computer declined: " + (ans.reason || "no reason given"));
    throw new Error((ans.reason || "The computer refused the offer") + " (HTTP " + resp.status + ")");
  }

  // --- events ---------------------------------------------------------------

  async function listen() {
    if (state.over) return;
    const url = await FerryAuth.signURL(state.key, "GET", "/api/v1/events?offer=" + encodeURIComponent(state.answer.offer));
    const es = new EventSource(url);
    state.events = es;
    es.addEventListener("file", (e) => fileResult(JSON.parse(e.data)));
    es.addEventListener("done", (e) => {
      const d = JSON.parse(e.data);
      state.over = true;
      es.close();
      message("Done: " + d.files + (d.files === 1 ? " file, " : " files, ") + human(d.bytes) + " saved on the computer.");
      document.body.classList.remove("busy");
      document.body.classList.add("finished");
    });
    es.addEventListener("failed", (e) => {
      state.over = true;
      es.close();
      problem("The computer stopped the transfer: " + JSON.parse(e.data).error);
    });
    es.onerror = () => {
      // A MAC is good once: reconnect with a fresh one, not the browser's way.
      es.close();
      if (!state.over) setTimeout(listen, 1000);
    };
  }

  // --- tus upload -----------------------------------------------------------

  async function head(url) {
    const resp = await request("HEAD", url, null, { "Tus-Resumable": "1.0.0" });
    if (resp.status === 401 || resp.status === 404) throw fatal(resp.status);
    if (!resp.ok) throw new Error("HEAD " + resp.status);
    return parseInt(resp.headers.get("Upload-Offset"), 10);
  }

  function fatal(status) {
    const e = new Error(status === 404
      ? "The computer no longer knows this upload (ferry stopped?). Pick the files again to continue."
      : "This page's link is no longer valid (the computer restarted ferry?). Scan the new code and pick the files again to continue.");
    e.fatal = true;
    return e;
  }

  // readChunk hashes a chunk. The request body is the slice itself, not
  // the bytes read: Chromium sends a Blob ten times faster than an array.
  async function readChunk(file, off, size) {
    const blob = file.slice(off, off + size);
    const t0 = performance.now();
    const buf = new Uint8Array(await blob.arrayBuffer());
    const t1 = performance.now();
    const hash = await FerryAuth.bodyHash(buf);
    state.readMs += t1 - t0;
    state.hashMs += performance.now() - t1;
    return { off, blob, size: buf.length, hash };
  }

  async function uploadFile(i) {
    const f = state.files[i].file;
    const fa = state.answer.files[i];
    const chunk = state.answer.chunk;
    if (fa.done) { fileProgress(i, f.size); return; }
    let tries = 0;
    for (;;) {
      try {
        let off = await head(fa.upload);
        fileProgress(i, off);
        let next = off < f.size ? readChunk(f, off, chunk) : null;
        while (off < f.size) {
          const c = await next;
          if (c.off !== off) { next = readChunk(f, off, chunk); continue; }
          // read and hash the next chunk while this one is on the wire
          next = off + c.size < f.size ? readChunk(f, off + c.size, chunk) : null;
          state.wire += c.size;
          const t0 = performance.now();
          const resp = await request("PATCH", fa.upload, c.blob, {
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": String(off),
            "Content-Type": "application/offset+octet-stream",
            "X-Ferry-Chunk-Hash": c.hash,
          }, off + "\0" + c.hash);
          state.sendMs += performance.now() - t0;
          if (resp.status === 401 || resp.status === 404) throw fatal(resp.status);
          if (resp.status !== 204) throw new Error("PATCH " + resp.status);
          off = parseInt(resp.headers.get("Upload-Offset"), 10);
          fileProgress(i, off);
          tries = 0;
        }
        return;
      } catch (e) {
        if (e.fatal) throw e;
        tries++;
        message("Connection trouble (" + e.message + "); retrying…");
        await sleep(Math.min(500 * tries, 5000));
        message("Sending…");
      }
    }
  }

  async function start(files) {
    if (!files.length) return;
    problem("");
    state.over = false;
    if (state.events) state.events.close();
    state.files = files;
    state.total = files.reduce((n, f) => n + f.file.size, 0);
    state.sent = 0;
    document.body.classList.add("busy");
    document.body.classList.remove("finished");
    showList(files);
    try {
      state.answer = await offer(files);
      $("code").textContent = state.answer.code;
      message("Sending…");
      listen();
      for (let i = 0; i < files.length; i++) await uploadFile(i);
      if (!state.over) message("Sent; waiting for the computer to check the last files…");
    } catch (e) {
      problem(e.message);
      message("");
      document.body.classList.remove("busy");
    }
  }

  function picked(input) {
    const files = Array.from(input.files, (file) => ({ file, path: file.webkitRelativePath || file.name }));
    input.value = "";
    start(files);
  }

  // A new code scanned while the page is open only changes the fragment:
  // the page takes the new key.
  async function rekey() {
    try {
      const hash = location.hash;
      state.key = await FerryAuth.deriveKey(FerryAuth.fragment(hash).k || "");
      state.keyFor = hash;
      problem("");
      message("");
      document.body.classList.remove("busy");
    } catch (e) {
      problem("This link does not carry a ferry key.");
    }
  }

  async function init() {
    window.addEventListener("hashchange", rekey);
    const frag = FerryAuth.fragment(location.hash);
    if (location.pathname === "/pair" && frag.c) {
      $("pair-note").hidden = false;
      $("pair-code").textContent = frag.c;
    }
    if (!("webkitdirectory" in $("folder"))) $("folder-label").hidden = true;
    try {
      state.key = await FerryAuth.deriveKey(frag.k || "");
      state.keyFor = location.hash;
    } catch (e) {
      problem("Open this page from the QR code or the link ferry printed: the link carries the key this page needs.");
      document.body.classList.add("busy");
      return;
    }
    $("files").addEventListener("change", (e) => picked(e.target));
    $("folder").addEventListener("change", (e) => picked(e.target));
    document.body.dataset.ready = "1";
  }

  init();
})();
