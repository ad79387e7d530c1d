/* Activity monitor: power flow, devices, today's totals and the day chart, kept current from the
   live stream (power events per device; slot and trade events refresh the totals and chart). */
"use strict";
(() => {
  const site = document.body.dataset.site;
  let slotSeconds = 900;
  const devices = new Map(); // device_id -> {kind, power_w, ts_ms}
  let soc = null;
  let firstUpdateLogged = false;
  window.glTiming = { paintMs: null, firstStreamMs: null };

  const setFlow = (id, w, pos, neg) => {
    const out = document.getElementById(id + "-w");
    out.textContent = GL.kw(Math.abs(w));
    out.dataset.w = String(w);
    document.getElementById(id + "-dir").textContent = w > 0 ? pos : w < 0 ? neg : "";
  };

  /* The balance the API's live view computes (service/monitor.live), from device powers. */
  function render() {
    let pv = 0, load = 0, battery = 0, grid = 0, ts = 0;
    for (const d of devices.values()) {
      const p = d.power_w || 0;
      if (d.kind === "pv_meter" || d.kind === "fuel_cell") pv += p;
      else if (d.kind === "load" || d.kind === "ev_charger") load += -p;
      else if (d.kind === "accumulator") battery += p;
      else if (d.kind === "bec") grid += -p;
      ts = Math.max(ts, d.ts_ms || 0);
    }
    setFlow("pv", pv, " producing", "");
    setFlow("load", load, " using", "");
    setFlow("battery", battery, " discharging", " charging");
    setFlow("grid", grid, " importing", " exporting");
    document.getElementById("soc").textContent = soc === null ? "" : `(${GL.pct(soc)})`;
    document.getElementById("last-ts").textContent = GL.time(ts);
    const sorted = [...devices.entries()].sort(([a], [b]) => a.localeCompare(b));
    GL.rows("#devices tbody", sorted, ([id, d]) => [id, d.kind, GL.kw(d.power_w), GL.time(d.ts_ms)]);
  }

  function today(t, share) {
    document.getElementById("t-pv").textContent = GL.kwh(t.pv_wh);
    document.getElementById("t-load").textContent = GL.kwh(t.load_wh);
    document.getElementById("t-bc").textContent = GL.kwh(t.battery_charge_wh);
    document.getElementById("t-bd").textContent = GL.kwh(t.battery_discharge_wh);
    document.getElementById("t-gi").textContent = GL.kwh(t.grid_import_wh);
    document.getElementById("t-ge").textContent = GL.kwh(t.grid_export_wh);
    document.getElementById("t-share").textContent = share === null ? "–" : `${Math.round(share * 100)} %`;
  }

  async function loadLive() {
    const live = await GL.api(`/sites/${site}/live`);
    for (const d of live.devices) devices.set(d.device_id, { kind: d.kind, power_w: d.power_w, ts_ms: d.ts_ms });
    soc = live.soc_permille;
    if (live.ts_ms) platformMs = live.ts_ms;
    render();
    today(live.today, live.self_powered_share);
    return live;
  }

  /* Neighbours: this household's trades of the newest settled slot as an average power. */
  async function loadTrades(slotSeconds) {
    const fills = await GL.api("/fills?limit=50");
    const newest = Math.max(0, ...fills.items.map((f) => f.slot_start_s));
    let wh = 0;
    const bySlot = new Map();
    for (const f of fills.items) {
      const signed = f.side === "sale" ? f.energy_wh : -f.energy_wh;
      if (f.slot_start_s === newest) wh += signed;
      bySlot.set(f.slot_start_s, (bySlot.get(f.slot_start_s) || 0) + signed);
    }
    setFlow("trade", Math.round((wh * 3600) / slotSeconds), " selling", " buying");
    return bySlot;
  }

  let chart = null;
  let chartDay0 = 0; // the chart's day (local midnight, Unix s)
  let platformMs = null; // the newest reading's time: the platform clock may run ahead (--speed)
  async function loadChart() {
    const now = new Date(platformMs || Date.now());
    const start = new Date(now.getFullYear(), now.getMonth(), now.getDate());
    chartDay0 = start.getTime() / 1000;
    const rowsIn = await GL.api(`/sites/${site}/energy?resolution=slot&start=${encodeURIComponent(start.toISOString())}&end=${encodeURIComponent(new Date(now.getTime() + 1000).toISOString())}`);
    const trades = await loadTrades(slotSeconds).catch(() => new Map());
    const xs = rowsIn.map((r) => r.start_ms / 1000);
    const kwhOf = (v) => v / 1000;
    const data = [
      xs,
      rowsIn.map((r) => kwhOf(r.pv_wh)),
      rowsIn.map((r) => kwhOf(r.load_wh)),
      rowsIn.map((r) => kwhOf(r.battery_discharge_wh - r.battery_charge_wh)),
      rowsIn.map((r) => kwhOf(r.grid_import_wh - r.grid_export_wh)),
      xs.map((x) => kwhOf(trades.get(x) || 0)),
    ];
    const box = document.getElementById("chart");
    const width = Math.max(280, Math.min(box.clientWidth || 600, 1100));
    if (chart) { chart.setData(data); chart.setSize({ width, height: 260 }); return; }
    chart = new uPlot({
      width, height: 260,
      scales: { x: { time: true, range: () => [chartDay0, chartDay0 + 86400] } },
      series: [
        {},
        { label: "Solar", stroke: "#b8860b", width: 2 },
        { label: "Home", stroke: "#1f5fa8", width: 2 },
        { label: "Battery", stroke: "#2e7d32", width: 2 },
        { label: "Grid", stroke: "#6a1b9a", width: 2 },
        { label: "Trades", stroke: "#c62828", width: 2, dash: [6, 3] },
      ],
      axes: [{}, { label: "kWh" }],
    }, data, box);
  }

  window.addEventListener("resize", () => {
    if (chart) chart.setSize({ width: Math.max(280, Math.min(document.getElementById("chart").clientWidth || 600, 1100)), height: 260 });
  });

  /* History by day (UTC days from the API) or by month (those days summed). */
  async function loadHistory() {
    const days = Number(document.getElementById("history-span").value);
    const end = new Date(platformMs || Date.now());
    const start = new Date(end.getTime() - days * 86400000);
    const rowsIn = await GL.api(`/sites/${site}/energy?resolution=day&start=${encodeURIComponent(start.toISOString())}&end=${encodeURIComponent(end.toISOString())}`);
    const groups = new Map();
    for (const r of rowsIn) {
      const key = new Date(r.start_ms).toISOString().slice(0, days > 31 ? 7 : 10);
      const g = groups.get(key) || { pv: 0, load: 0, gi: 0, ge: 0 };
      g.pv += r.pv_wh; g.load += r.load_wh; g.gi += r.grid_import_wh; g.ge += r.grid_export_wh;
      groups.set(key, g);
    }
    const items = [...groups.entries()].reverse();
    GL.rows("#history tbody", items, ([k, g]) => [k, GL.kwh(g.pv), GL.kwh(g.load), GL.kwh(g.gi), GL.kwh(g.ge),
      g.load ? `${Math.round((1 - Math.min(g.gi, g.load) / g.load) * 100)} %` : "–"], "No readings in this period.");
  }
  document.getElementById("history-span").addEventListener("change", () => loadHistory().catch((e) => GL.toast(e.message, true)));

  let chartPending = null;
  const refreshSoon = () => {
    if (chartPending) return;
    chartPending = setTimeout(async () => {
      chartPending = null;
      try { await loadChart(); } catch { /* the next event retries */ }
      try { const live = await GL.api(`/sites/${site}/live`); today(live.today, live.self_powered_share); } catch { /* next */ }
    }, 500);
  };

  (async () => {
    await loadLive();
    GL.api(`/regions/${document.body.dataset.region}/market`).then((m) => { slotSeconds = m.slot_seconds; }).catch(() => {});
    window.glTiming.paintMs = performance.now();
    GL.stream(["power", "slot_cleared", "trade_settled"], (ev) => {
      if (ev.kind === "power" && ev.site_id === site) {
        devices.set(ev.device_id, { kind: ev.device_kind, power_w: ev.power_w, ts_ms: ev.ts_ms });
        platformMs = Math.max(platformMs || 0, ev.ts_ms);
        if (ev.device_kind === "accumulator" && ev.soc_permille !== null && ev.soc_permille !== undefined) soc = ev.soc_permille;
        render();
        if (!firstUpdateLogged) {
          firstUpdateLogged = true;
          window.glTiming.firstStreamMs = performance.now();
        }
      } else if (ev.kind === "slot_cleared" || ev.kind === "trade_settled") {
        refreshSoon();
      }
    });
    loadChart().catch((e) => GL.toast("Chart: " + e.message, true));
    loadHistory().catch((e) => GL.toast("History: " + e.message, true));
  })().catch((e) => GL.toast(e.message, true));
})();
