// ferry-web/1: the page's half of the request MAC (the spec is in
// transfer/web/webauth/doc.go). Needs hash-wasm's BLAKE3 (window.hashwasm).
"use strict";

const FerryAuth = (() => {
  const enc = new TextEncoder();
  const B32 = "abcdefghijklmnopqrstuvwxyz234567";

  function base32Decode(s) {
    const out = [];
    let bits = 0, value = 0;
    for (const ch of s) {
      const v = B32.indexOf(ch);
      if (v < 0) throw new Error("not base32");
      value = (value << 5) | v;
      bits += 5;
      if (bits >= 8) {
        out.push((value >>> (bits - 8)) & 0xff);
        bits -= 8;
      }
    }
    return new Uint8Array(out);
  }

  function fromHex(h) {
    const out = new Uint8Array(h.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(2 * i, 2), 16);
    return out;
  }

  function toHex(b) {
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  function randomHex(n) {
    const b = new Uint8Array(n);
    crypto.getRandomValues(b); // available on plain-HTTP pages (crypto.subtle is not)
    return toHex(b);
  }

  function concat(a, b) {
    const out = new Uint8Array(a.length + b.length);
    out.set(a, 0);
    out.set(b, a.length);
    return out;
  }

  // fragment parses "k=<secret>&c=<code>" (a URL's hash without '#').
  function fragment(hash) {
    const out = {};
    for (const part of hash.replace(/^#/, "").split("&")) {
      const i = part.indexOf("=");
      if (i > 0) out[part.slice(0, i)] = decodeURIComponent(part.slice(i + 1));
    }
    return out;
  }

  // deriveKey: K = BLAKE3-256("ferry-web/1 key\0" ‖ S), S from its base32 text.
  async function deriveKey(secretText) {
    const s = base32Decode(secretText);
    if (s.length !== 16 || secretText.length !== 26) throw new Error("not a ferry secret");
    return fromHex(await hashwasm.blake3(concat(enc.encode("ferry-web/1 key\0"), s)));
  }

  // bodyHash: lower-case hex BLAKE3-256 of bytes (a Uint8Array or string).
  // One hasher, reused: its init, update and digest are synchronous, so
  // calls cannot interleave, and it hashes 4 MiB twice as fast as a fresh
  // one-shot call.
  let hasher = null;
  async function bodyHash(data) {
    if (!hasher) hasher = await hashwasm.createBLAKE3(256);
    hasher.init();
    hasher.update(data);
    return hasher.digest("hex");
  }

  // mac: keyed BLAKE3-256 over the request's parts (hex).
  function mac(key, method, target, nonce, bodyBind) {
    return hashwasm.blake3(enc.encode("ferry-web/1\0" + method + "\0" + target + "\0" + nonce + "\0" + bodyBind), 256, key);
  }

  // sign returns "<nonce>.<mac>" for one request.
  async function sign(key, method, target, bodyBind) {
    const nonce = randomHex(16);
    return nonce + "." + (await mac(key, method, target, nonce, bodyBind || ""));
  }

  // signURL appends the auth parameter (last) for requests without headers.
  async function signURL(key, method, target) {
    return target + (target.includes("?") ? "&" : "?") + "auth=" + (await sign(key, method, target, ""));
  }

  // code: the verification code of an offer body's hash, as the computer shows it.
  async function code(key, bodyHashHex) {
    const h = await hashwasm.blake3(enc.encode("ferry-web/1 code\0" + bodyHashHex), 256, key);
    const v = BigInt("0x" + h.slice(0, 16)) % 1000000n;
    const s = v.toString().padStart(6, "0");
    return s.slice(0, 3) + "-" + s.slice(3);
  }

  return { fragment, deriveKey, bodyHash, mac, sign, signURL, code, randomHex, toHex };
})();
