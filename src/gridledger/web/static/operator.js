/* Operator: the region's slots, prices, volumes, settlement status and lag; registrations and
   future tariffs. */
"use strict";
(() => {
  const region = document.body.dataset.region;
  const $ = (id) => document.getElementById(id);
  let slotSeconds = 900;

  async function load() {
    const [st, m] = await Promise.all([GL.api(`/regions/${region}/status`), GL.api(`/regions/${region}/market`)]);
    slotSeconds = m.slot_seconds;
    $("o-households").textContent = String(st.households);
    $("o-sites").textContent = String(st.sites);
    $("o-settled").textContent = String(st.settled_slots);
    $("o-open").textContent = GL.slotTime(st.open_slot_start_s);
    $("o-escrow").textContent = GL.money(st.operator_escrow_micro);
    const list = (id, obj, fmt, empty) => {
      const ul = $(id);
      ul.replaceChildren();
      const entries = Object.entries(obj);
      if (!entries.length) ul.append(GL.el("li", { class: "muted", text: empty }));
      for (const [k, v] of entries) ul.append(GL.el("li", { text: `${k.replaceAll("_", " ")}: ${fmt(v)}` }));
    };
    list("lag", st.lag_s, (v) => `${GL.nf2.format(v)} s`, "No lag reported.");
    list("rejections", st.rejections, String, "No rejections.");
    const priced = new Map(m.recent.map((s) => [s.slot_start_s, s]));
    GL.rows("#slots tbody", st.recent, (s) => {
      const p = priced.get(s.slot_start_s);
      return [GL.slotTime(s.slot_start_s),
        p && p.clearing_price_micro_per_kwh !== null ? GL.perKwh(p.clearing_price_micro_per_kwh) : "no peer trade",
        p ? GL.kwh(p.volume_wh) : "–", p ? GL.kwh(p.company_wh) : "–", String(s.trades),
        GL.el("span", { class: "slot-status", text: s.status }), s.block_number ? String(s.block_number) : "–"];
    }, "No slot yet.");
    const tl = $("tariffs");
    tl.replaceChildren();
    for (const t of st.tariffs) {
      tl.append(GL.el("li", { class: "tariff", "data-from": String(t.from_slot_start_s), text: `${t.from_slot_start_s ? "from " + GL.slotTime(t.from_slot_start_s) : "from the start"}: grid ${GL.perKwh(t.retail_price_micro_per_kwh)}, feed-in ${GL.perKwh(t.feed_in_price_micro_per_kwh)}, fee ${GL.perKwh(t.grid_fee_micro_per_kwh)}` }));
    }
  }

  const micro = (id) => Math.round(Number($(id).value) * 1e6);
  $("tariff-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const from = Math.ceil(new Date($("t-from").value).getTime() / 1000 / slotSeconds) * slotSeconds;
    try {
      await GL.api(`/regions/${region}/tariff`, { method: "PUT", json: {
        from_slot_start_s: from, retail_price_micro_per_kwh: micro("t-retail"),
        feed_in_price_micro_per_kwh: micro("t-feedin"), grid_fee_micro_per_kwh: micro("t-fee") } });
      GL.toast("Tariff set");
      load();
    } catch (e) { GL.toast(e.message, true); }
  });
  $("household-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { address: $("h-address").value.trim() };
    if ($("h-site").value.trim()) body.site_id = $("h-site").value.trim();
    try { const r = await GL.api(`/regions/${region}/households`, { json: body }); GL.toast(`Registered household ${r.site_id || r.address}`); load(); }
    catch (e) { GL.toast(e.message, true); }
  });
  $("company-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { const r = await GL.api(`/regions/${region}/companies`, { json: { address: $("c-address").value.trim(), name: $("c-name").value.trim() } }); GL.toast(`Registered company ${r.name}`); load(); }
    catch (e) { GL.toast(e.message, true); }
  });

  /* Demand-response events: the region's OpenADR VTN (same session cookie, the spec's JSON). */
  const VTN = "/openadr3/3.0.1";
  const KINDS = { PRICE: "price", IMPORT_CAPACITY_LIMIT: "import limit", SIMPLE: "load shed", ALERT_OTHER: "notice" };
  async function vtn(path, init = {}) {
    const res = await fetch(VTN + path, { credentials: "same-origin", ...init });
    const data = res.status === 204 ? null : await res.json();
    if (!res.ok) throw new Error((data && data.detail) || `HTTP ${res.status}`);
    return data;
  }
  async function loadEvents() {
    const events = await vtn(`/events?programID=${encodeURIComponent(region + "-dr")}`);
    GL.rows("#dr-events tbody", events, (e) => {
      const start = new Date(e.intervalPeriod.start);
      const value = e.intervals.length ? e.intervals[0].payloads[0].values[0] : "–";
      const targets = (e.targets || []).flatMap((t) => t.values);
      return [e.eventName || e.id, KINDS[e.payloadDescriptors ? e.payloadDescriptors[0].payloadType : ""] || "–",
        `${start.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" })}, ${e.intervalPeriod.duration}`,
        String(value), targets.length ? targets.join(", ") : "all",
        GL.el("button", { type: "button", text: `Delete ${e.eventName || e.id}`, onclick: async () => {
          try { await vtn(`/events/${e.id}`, { method: "DELETE" }); GL.toast("Event deleted"); loadEvents(); }
          catch (err) { GL.toast(err.message, true); }
        } })];
    }, "No events.");
  }
  $("event-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const kind = $("e-kind").value;
    const value = Number($("e-value").value);
    const start = new Date($("e-start").value);
    const targets = $("e-targets").value.split(",").map((t) => t.trim()).filter(Boolean);
    const body = {
      programID: region + "-dr", eventName: KINDS[kind],
      payloadDescriptors: [{ payloadType: kind, ...(kind === "IMPORT_CAPACITY_LIMIT" ? { units: "KW" } : {}) }],
      intervalPeriod: { start: start.toISOString().replace(/\.\d+Z$/, "Z"), duration: `PT${Number($("e-minutes").value)}M` },
      intervals: [{ id: 0, payloads: [{ type: kind, values: [kind === "SIMPLE" ? Math.round(value) : value] }] }],
      ...(targets.length ? { targets: [{ type: "VEN_NAME", values: targets }] } : {}),
    };
    try {
      await vtn("/events", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      GL.toast("Event posted");
      loadEvents();
    } catch (e) { GL.toast(e.message, true); }
  });

  loadEvents().catch((e) => GL.toast(e.message, true));
  load().catch((e) => GL.toast(e.message, true));
  GL.stream(["slot_cleared", "trade_settled", "delivery_settled"], () => load().catch(() => {}));
  setInterval(() => load().catch(() => {}), 10000);
})();
