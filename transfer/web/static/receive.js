// The upload page of `ferry receive --web`: offer the picked files, show
// the verification code, upload each file with tus 1.0 through
// tus-js-client (HEAD, then one chunk per PATCH, each with its BLAKE3 in
// X-Ferry-Chunk-Hash and its own MAC), and show what the computer made of
// each file. Names are only ever set as text.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  // wire: chunk bytes this page put in PATCH requests, sent again included.
  const state = { key: null, files: [], answer: null, sent: 0, total: 0, items: [], events: null, over: false, trouble: false, eventErrors: 0, wire: 0, readMs: 0, hashMs: 0, sendMs: 0, hasher: "" };
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
    es.onopen = () => { state.eventErrors = 0; };
    es.onerror = () => {
      // A MAC is good once: reconnect with a fresh one, not the browser's
      // way; and not for ever (wrong MACs count against this phone).
      es.close();
      if (state.over) return;
      if (++state.eventErrors > 5) {
        problem("Lost touch with the computer. Pick the files again to see where they stand.");
        return;
      }
      setTimeout(listen, 1000 * state.eventErrors);
    };
  }

  // --- tus upload (tus-js-client) -----------------------------------------
  //
  // tus-js-client drives each file: HEAD for the offset, then one PATCH per
  // chunk (chunkSize is the offer answer's chunk), retries after a HEAD.
  // Ferry adds what its server needs: the page's own fileReader hashes each
  // chunk as tus-js-client takes it (slice), and onBeforeRequest puts the
  // hash in X-Ferry-Chunk-Hash and signs the request, exactly as request().

  function fatal(status) {
    const e = new Error(status === 404
      ? "The computer no longer knows this upload (ferry stopped?). Pick the files again to continue."
      : "This page's link is no longer valid (the computer restarted ferry?). Scan the new code and pick the files again to continue.");
    e.fatal = true;
    return e;
  }

  function statusOf(err) {
    return err && err.originalResponse ? err.originalResponse.getStatus() : 0;
  }

  // hashChunk reads bytes [start, end) of file and returns their BLAKE3:
  // in a worker (hashworker.js) where the browser has workers, else here.
  let worker = null;
  const waiting = new Map(); // worker request id → { ok, bad }
  let nextID = 0;
  function hashChunk(file, start, end) {
    if (worker === null) {
      try {
        worker = new Worker("/static/hashworker.js");
        worker.onmessage = (e) => {
          const w = waiting.get(e.data.id);
          waiting.delete(e.data.id);
          if (!w) return;
          if (e.data.error) { w.bad(new Error(e.data.error)); return; }
          state.readMs += e.data.readMs;
          state.hashMs += e.data.hashMs;
          state.hasher = "worker";
          w.ok(e.data.hash);
        };
        worker.onerror = () => {
          // no worker after all: hash here from now on
          worker = false;
          for (const w of waiting.values()) w.retry();
          waiting.clear();
        };
      } catch (e) {
        worker = false;
      }
    }
    if (!worker) return hashHere(file, start, end);
    return new Promise((ok, bad) => {
      const id = nextID++;
      waiting.set(id, { ok, bad, retry: () => hashHere(file, start, end).then(ok, bad) });
      worker.postMessage({ id, file, start, end });
    });
  }

  async function hashHere(file, start, end) {
    const t0 = performance.now();
    const buf = new Uint8Array(await file.slice(start, end).arrayBuffer());
    const t1 = performance.now();
    const hash = await FerryAuth.bodyHash(buf);
    state.readMs += t1 - t0;
    state.hashMs += performance.now() - t1;
    state.hasher = "page";
    return hash;
  }

  // hashingSource is tus-js-client's file source for one file: slice(start,
  // end) hashes the chunk, remembers its hash for its offset (hashes), has
  // the next two chunks read and hashed while this one is on the wire, and
  // returns the Blob slice itself as the body: Chromium sends a Blob ten
  // times faster than an array.
  function hashingSource(file, chunk) {
    const hashes = new Map(); // chunk offset → its hash
    const ahead = new Map(); // chunk offset → its hash to come
    const hash = (start) => {
      const p = hashChunk(file, start, Math.min(start + chunk, file.size));
      p.catch(() => {}); // a prefetch nobody takes may fail quietly
      return p;
    };
    return {
      hashes,
      size: file.size,
      async slice(start, end) {
        const cur = ahead.get(start) || hash(start);
        for (const off of ahead.keys()) if (off <= start) ahead.delete(off);
        for (let off = end, i = 0; i < 2 && off < file.size; off += chunk, i++) {
          if (!ahead.has(off)) ahead.set(off, hash(off));
        }
        hashes.set(start, await cur);
        return { value: file.slice(start, end), done: end >= file.size };
      },
      close() { ahead.clear(); },
    };
  }

  function trouble(what) {
    state.trouble = true;
    if (!state.over) message("Connection trouble (" + what + "); retrying…");
  }

  function uploadFile(i) {
    const f = state.files[i].file;
    const fa = state.answer.files[i];
    const chunk = state.answer.chunk;
    if (fa.done) { fileProgress(i, f.size); return Promise.resolve(); }
    const src = hashingSource(f, chunk);
    let sendStart = 0;
    return new Promise((resolve, reject) => {
      const up = new tus.Upload(f, {
        uploadUrl: fa.upload,
        chunkSize: chunk,
        // then, after the last, once more every 5 s (onError)
        retryDelays: [0, 500, 1000, 2000, 3000, 5000, 5000, 5000],
        fileReader: { openFile: () => Promise.resolve(src) },
        fingerprint: () => Promise.resolve(null), // the offer answer says where a file stands
        storeFingerprintForResuming: false,
        async onBeforeRequest(req) {
          const method = req.getMethod();
          let bind = "";
          if (method === "PATCH") {
            const off = Number(req.getHeader("Upload-Offset"));
            const h = src.hashes.get(off);
            req.setHeader("X-Ferry-Chunk-Hash", h);
            bind = off + "\0" + h;
            state.wire += Math.min(chunk, f.size - off);
            sendStart = performance.now();
          }
          req.setHeader("X-Ferry-Auth", await FerryAuth.sign(state.key, method, req.getURL(), bind));
        },
        onAfterResponse(req) {
          if (req.getMethod() === "PATCH") state.sendMs += performance.now() - sendStart;
        },
        onProgress(sent) { fileProgress(i, sent); },
        onChunkComplete(_n, accepted) {
          for (const off of src.hashes.keys()) if (off < accepted) src.hashes.delete(off);
          if (state.trouble && !state.over) message("Sending…");
          state.trouble = false;
        },
        onShouldRetry(err) {
          const st = statusOf(err);
          if (st === 401 || st === 404) return false;
          trouble(st ? "HTTP " + st : "no answer");
          return true;
        },
        onError(err) {
          const st = statusOf(err);
          if (st === 401 || st === 404) { reject(fatal(st)); return; }
          if (state.over) { resolve(); return; }
          trouble(st ? "HTTP " + st : err.message);
          setTimeout(() => up.start(), 5000);
        },
        onSuccess() { fileProgress(i, f.size); resolve(); },
      });
      up.start();
    });
  }

  async function start(files) {
    if (!files.length) return;
    problem("");
    state.over = false;
    state.trouble = false;
    state.eventErrors = 0;
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
      if (e.fatal) {
        state.over = true; // no more requests with this key
        if (state.events) state.events.close();
      }
      problem(e.message);
      message("");
      document.body.classList.remove("busy");
    }
  }

  function picked(input) {
    const files = Array.from(input.files, (file) => ({ file, path: file.webkitRelativePath || file.name }));
    // a folder comes in the browser's order, not the user's: list it by path
    files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
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
