// ferry send --web: the page that lists the offered files and downloads
// them. Names are only ever inserted as text (textContent), never as HTML.
// Every request carries a MAC (see transfer/web/webauth): the list with an
// X-Ferry-Auth header, a download link with auth=<nonce>.<mac> as its last
// query parameter, set on the link just before the tap goes through.
"use strict";

(function () {
  const statusEl = document.getElementById("status");
  const listEl = document.getElementById("list");
  const allEl = document.getElementById("all");
  const noteEl = document.getElementById("note");

  function fail(msg) {
    statusEl.textContent = msg;
    statusEl.className = "err";
  }

  // RFC 4648 base32, lower case, no padding.
  function base32(s) {
    const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
    const out = [];
    let bits = 0, value = 0;
    for (const c of s) {
      const v = alphabet.indexOf(c);
      if (v < 0) throw new Error("not base32");
      value = (value << 5) | v;
      bits += 5;
      if (bits >= 8) {
        bits -= 8;
        out.push((value >>> bits) & 0xff);
      }
    }
    return new Uint8Array(out);
  }

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function nonce() {
    return hex(crypto.getRandomValues(new Uint8Array(16)));
  }

  function human(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let u = 0, v = n;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
    return u === 0 ? n + " B" : v.toFixed(1) + " " + units[u];
  }

  async function start() {
    const frag = new URLSearchParams(location.hash.slice(1));
    const k = frag.get("k");
    if (!k) {
      fail("This page needs the whole link from ferry's QR code, with the part after #.");
      return;
    }
    let secret;
    try {
      secret = base32(k);
      if (secret.length !== 16) throw new Error("length");
    } catch (e) {
      fail("The link is damaged: scan ferry's QR code again.");
      return;
    }
    if (typeof hashwasm === "undefined") {
      fail("The page's hashing script did not load.");
      return;
    }
    // K = BLAKE3-256("ferry-web/1 key\0" ‖ S)
    const kh = await hashwasm.createBLAKE3(256);
    const ctx = new TextEncoder().encode("ferry-web/1 key\0");
    const keyIn = new Uint8Array(ctx.length + secret.length);
    keyIn.set(ctx);
    keyIn.set(secret, ctx.length);
    kh.init();
    kh.update(keyIn);
    const key = kh.digest("binary");
    const mh = await hashwasm.createBLAKE3(256, key);
    // The MAC is computed synchronously, so that a tap's handler can set
    // the link before the browser follows it.
    function sign(method, target, bind) {
      const n = nonce();
      mh.init();
      mh.update("ferry-web/1\0" + method + "\0" + target + "\0" + n + "\0" + (bind || ""));
      return n + "." + mh.digest("hex");
    }
    function signLink(a, target) {
      a.addEventListener("click", () => {
        a.href = target + (target.includes("?") ? "&" : "?") + "auth=" + sign("GET", target);
      });
    }

    let res;
    try {
      res = await fetch("/api/v1/files", { headers: { "X-Ferry-Auth": sign("GET", "/api/v1/files") }, cache: "no-store" });
    } catch (e) {
      fail("The computer cannot be reached. Is ferry still running?");
      return;
    }
    if (res.status === 401) {
      fail("The computer refused this link: scan ferry's QR code again.");
      return;
    }
    if (res.status === 429) {
      fail("Too many wrong tries from this phone: wait a minute, then reload.");
      return;
    }
    if (!res.ok) {
      fail("The computer answered " + res.status + ".");
      return;
    }
    const offer = await res.json();
    for (const f of offer.files) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      const target = "/api/v1/dl/" + f.i;
      a.href = target;
      a.id = "file" + f.i;
      a.className = "file";
      const name = document.createElement("span");
      name.className = "name";
      // shown: the name with control and bidi characters escaped (\u202e),
      // so that it reads as it is; inserted as text all the same.
      const shown = f.shown || f.name;
      const slash = shown.lastIndexOf("/");
      if (slash >= 0) {
        const dir = document.createElement("span");
        dir.className = "dir";
        dir.textContent = shown.slice(0, slash + 1);
        name.appendChild(dir);
      }
      name.appendChild(document.createTextNode(shown.slice(slash + 1)));
      const size = document.createElement("span");
      size.className = "size";
      size.textContent = human(f.size);
      a.append(name, size);
      signLink(a, target);
      a.addEventListener("click", () => name.classList.add("got"));
      li.appendChild(a);
      listEl.appendChild(li);
    }
    const n = offer.files.length;
    statusEl.textContent = n + (n === 1 ? " file, " : " files, ") + human(offer.total);
    statusEl.dataset.ready = "1";
    if (n > 0) {
      allEl.textContent = "Download all (" + human(offer.total) + " zip)";
      signLink(allEl, "/api/v1/zip");
      allEl.hidden = false;
    }
    noteEl.hidden = false;
  }

  start().catch((e) => fail("Something went wrong: " + e.message));
})();
