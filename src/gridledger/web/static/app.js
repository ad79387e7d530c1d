/* gridledger household app: shared helpers (API calls, units, the live stream, the session). */
"use strict";
const GL = (() => {
  const body = document.body;
  const currency = body.dataset.currency || "€";

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
      this.status = status;
      this.problem = problem;
    }
  }

  async function api(path, opts = {}) {
    const init = { credentials: "same-origin", headers: {}, ...opts };
    if (opts.json !== undefined) {
      init.method = init.method || "POST";
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(opts.json);
      delete init.json;
    }
    const res = await fetch("/api/v1" + path, init);
    if (res.status === 204) return null;
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) {
      if (res.status === 401 && body.dataset.page !== "signin") expired();
      throw new ApiError(res.status, data);
    }
    return data;
  }

  function expired() {
    sessionStorage.removeItem("gl-expires");
    const next = encodeURIComponent(location.pathname);
    location.assign(`/app/signin?expired=1&next=${next}`);
  }

  /* Units as people read them: W -> kW, Wh -> kWh, micro-units -> currency with two decimals. */
  const nf2 = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const kw = (w) => (w === null || w === undefined ? "–" : `${nf2.format(w / 1000)} kW`);
  const kwh = (wh) => (wh === null || wh === undefined ? "–" : `${nf2.format(wh / 1000)} kWh`);
  const money = (micro) => (micro === null || micro === undefined ? "–" : `${nf2.format(micro / 1e6)} ${currency}`);
  const perKwh = (micro) => (micro === null || micro === undefined ? "–" : `${nf2.format(micro / 1e6)} ${currency}/kWh`);
  const pct = (permille) => (permille === null || permille === undefined ? "–" : `${Math.round(permille / 10)} %`);
  const time = (ms) => (ms ? new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "–");
  const slotTime = (s) => new Date(s * 1000).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  // a <select> of the open slot and the next ones (an order or offer may wait for a later slot),
  // refilled only when the open slot moved on, keeping the chosen slot while it is still ahead
  function slotChoice(choice, market, count = 8) {
    if (choice.dataset.open === String(market.open_slot_start_s)) return;
    const keep = choice.value;
    choice.replaceChildren();
    for (let i = 0; i < count; i++) {
      const start = market.open_slot_start_s + i * market.slot_seconds;
      choice.append(el("option", { value: String(start), text: (i ? "" : "open: ") + slotTime(start) }));
    }
    if (keep && Number(keep) >= market.open_slot_start_s) choice.value = keep;
    choice.dataset.open = String(market.open_slot_start_s);
  }

  function rows(tbody, items, render, empty = "Nothing yet.") {
    const t = typeof tbody === "string" ? document.querySelector(tbody) : tbody;
    t.replaceChildren();
    if (!items.length) {
      const cols = t.closest("table").querySelectorAll("thead th").length;
      t.append(el("tr", {}, el("td", { colspan: cols, class: "muted", text: empty })));
      return;
    }
    for (const item of items) {
      const tr = el("tr");
      for (const cell of render(item)) tr.append(cell instanceof Node ? el("td", {}, cell) : el("td", { text: cell }));
      t.append(tr);
    }
  }

  let toastTimer = 0;
  function toast(msg, error = false) {
    const t = document.getElementById("toast");
    t.textContent = msg;
    t.className = error ? "show error" : "show";
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => (t.className = ""), 5000);
  }

  /* The live stream: one EventSource; the badge says "live" while events or pings arrive and
     "stale" when none came for staleMs. */
  function stream(kinds, onEvent, staleMs = 8000) {
    const badge = document.getElementById("stream-state");
    let last = 0;
    const mark = (state) => {
      if (!badge) return;
      badge.textContent = state;
      badge.className = "badge " + state;
    };
    const src = new EventSource("/api/v1/stream?kinds=" + kinds.join(","));
    const handle = (ev) => {
      last = Date.now();
      mark("live");
      if (!ev.data) return;
      let data;
      try { data = JSON.parse(ev.data); } catch { return; }
      onEvent(data);
    };
    src.onmessage = handle;
    for (const k of kinds) src.addEventListener(k, handle);
    src.addEventListener("ping", () => { last = Date.now(); });
    src.onopen = () => { last = Date.now(); mark("live"); };
    src.onerror = () => mark("stale");
    setInterval(() => { if (last && Date.now() - last > staleMs) mark("stale"); }, 1000);
    return src;
  }

  /* Session: sign out, and leave for the sign-in page when the session expires. */
  function session() {
    const out = document.getElementById("signout");
    if (out) out.addEventListener("click", async () => {
      try { await api("/auth/logout", { method: "POST" }); } catch { /* already ended */ }
      sessionStorage.removeItem("gl-expires");
      location.assign("/app/signin");
    });
    const exp = Date.parse(sessionStorage.getItem("gl-expires") || "");
    const label = document.getElementById("expiry");
    if (!Number.isNaN(exp) && label) {
      label.textContent = "session until " + new Date(exp).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      const left = exp - Date.now();
      if (left <= 0) expired();
      else setTimeout(expired, Math.min(left, 2 ** 31 - 1));
    }
  }
  session();

  return { api, ApiError, kw, kwh, money, perKwh, pct, time, slotTime, slotChoice, el, rows, toast, stream, nf2, currency };
})();
