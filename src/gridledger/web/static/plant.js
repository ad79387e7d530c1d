/* Activity plant: the installation and battery settings as signed commands (pending until the
   accumulator acknowledges); the faults are plant_faults.js. */
"use strict";
(() => {
  const site = document.body.dataset.site;
  const $ = (id) => document.getElementById(id);

  const describe = (params) => Object.entries(params || {}).map(([k, v]) => {
    if (k.endsWith("_wh")) return `${k.replace(/_wh$/, "").replaceAll("_", " ")} ${GL.kwh(v)}`;
    if (k.endsWith("_wp")) return `${k.replace(/_wp$/, "").replaceAll("_", " ")} ${GL.nf2.format(v / 1000)} kWp`;
    if (k.endsWith("_w")) return `${k.replace(/_w$/, "").replaceAll("_", " ")} ${GL.kw(v)}`;
    if (k.endsWith("_deg")) return `${k.replace(/_deg$/, "").replaceAll("_", " ")} ${v}°`;
    if (k.endsWith("_permille")) return `${k.replace(/_permille$/, "").replaceAll("_", " ")} ${GL.pct(v)}`;
    return `${k.replaceAll("_", " ")} ${v}`;
  }).join(", ");

  const reading = (r) => {
    if (!r) return "none yet";
    const parts = [GL.time(r.ts_ms)];
    if (r.power_w !== null) parts.push(GL.kw(r.power_w));
    if (r.import_wh !== null) parts.push("in " + GL.kwh(r.import_wh));
    if (r.export_wh !== null) parts.push("out " + GL.kwh(r.export_wh));
    if (r.soc_permille !== null) parts.push("charge " + GL.pct(r.soc_permille));
    return parts.join(" · ");
  };

  async function loadSite() {
    const s = await GL.api(`/sites/${site}`);
    const staleAfter = 10 * 60 * 1000;
    GL.rows("#install tbody", s.devices, (d) => {
      const r = d.last_reading;
      const state = !r ? "no reading" : Date.now() - r.ts_ms > staleAfter ? "reporting (platform clock)" : "reporting";
      return [d.device_id, d.kind.replaceAll("_", " "), describe(d.params) || "–", reading(r), state];
    });
  }

  // modes as the API names them (GET /battery), and as a command's value (AccumulatorMode)
  const MODE_NAMES = { self_consumption: "self-consumption", backup_reserve: "backup reserve", price_based: "price-based",
    sell_to_company: "sell to company", charge: "charge", discharge: "discharge", hold: "hold", off: "off" };
  const ACTION_NAMES = { set_mode: "mode", set_reserve_soc: "reserve", set_max_charge_w: "charge limit", set_max_discharge_w: "discharge limit",
    set_price_low: "charge at or below", set_price_high: "discharge at or above" };
  const DEVICE_MODES = ["self-consumption", "charge", "discharge", "hold", "off", "backup reserve", "price-based", "sell to company"];
  const region = document.body.dataset.region;
  let companyNames = {};
  let reported = null;
  async function loadBattery() {
    const b = await GL.api(`/sites/${site}/battery`);
    reported = b;
    $("rep-mode").textContent = b.mode ? MODE_NAMES[b.mode] || b.mode : "–";
    $("rep-mode").dataset.mode = b.mode || "";
    $("rep-reserve").textContent = GL.pct(b.reserve_soc_permille);
    $("rep-reserve").dataset.permille = String(b.reserve_soc_permille);
    $("rep-charge").textContent = GL.kw(b.max_charge_w);
    $("rep-discharge").textContent = GL.kw(b.max_discharge_w);
    $("rep-soc").textContent = GL.pct(b.soc_permille);
    $("rep-low").textContent = GL.perKwh(b.price_low_micro_per_kwh);
    $("rep-high").textContent = GL.perKwh(b.price_high_micro_per_kwh);
    $("rep-price").textContent = GL.perKwh(b.region_price_micro_per_kwh);
    showCompany(b.sale_company);
    return b;
  }

  function showCompany(address) {
    $("rep-company").textContent = address ? companyNames[address] || address : "no company";
  }

  async function loadCompanies() {
    const list = await GL.api(`/regions/${region}/companies`);
    companyNames = Object.fromEntries(list.map((c) => [c.address, c.name]));
    const select = $("sale-company");
    for (const c of list) select.append(GL.el("option", { value: c.address, text: c.name }));
  }

  function initForm(b) {
    if (b.mode) $("mode").value = b.mode;
    if (b.reserve_soc_permille !== null) $("reserve").value = String(Math.round(b.reserve_soc_permille / 10));
    $("reserve-out").textContent = `${$("reserve").value} %`;
    if (b.max_charge_w !== null) $("max-charge").value = String(b.max_charge_w / 1000);
    if (b.max_discharge_w !== null) $("max-discharge").value = String(b.max_discharge_w / 1000);
    if (b.price_low_micro_per_kwh !== null) $("price-low").value = String(b.price_low_micro_per_kwh / 1e6);
    if (b.price_high_micro_per_kwh !== null) $("price-high").value = String(b.price_high_micro_per_kwh / 1e6);
    $("sale-company").value = b.sale_company || "";
  }

  const commands = new Map();
  function renderCommands() {
    const items = [...commands.values()].sort((a, b) => b.created_ms - a.created_ms).slice(0, 20);
    GL.rows("#commands tbody", items, (c) => {
      const value = c.action === "set_mode" ? DEVICE_MODES[c.value] || String(c.value)
        : c.action.includes("soc") ? GL.pct(c.value) : c.action.endsWith("_w") ? GL.kw(c.value)
        : c.action.startsWith("set_price") ? GL.perKwh(c.value) : String(c.value);
      return [GL.time(c.created_ms), ACTION_NAMES[c.action] || c.action.replaceAll("_", " "), value,
        GL.el("span", { class: "state " + c.status, "data-id": c.id, text: c.status }), c.detail || ""];
    }, "No commands sent.");
  }
  async function loadCommands() {
    const page = await GL.api(`/sites/${site}/battery/commands?limit=20`);
    for (const c of page.items) commands.set(c.id, c);
    renderCommands();
  }

  async function send(setting, value) {
    try {
      const c = (await GLWallet.inWallet())
        ? await GLWallet.command(site, setting, value) // signed in the wallet (EIP-712)
        : await GL.api(`/sites/${site}/battery/commands`, { json: { setting, value } });
      commands.set(c.id, c);
      renderCommands();
      GL.toast("Sent to the battery: pending until it acknowledges");
    } catch (e) { GL.toast(e.message, true); }
  }

  $("send-mode").addEventListener("click", () => send("mode", $("mode").value));
  $("reserve").addEventListener("input", () => { $("reserve-out").textContent = `${$("reserve").value} %`; });
  $("reserve").addEventListener("change", () => send("reserve_soc_permille", Number($("reserve").value) * 10));
  $("send-charge").addEventListener("click", () => send("max_charge_w", Math.round(Number($("max-charge").value) * 1000)));
  $("send-discharge").addEventListener("click", () => send("max_discharge_w", Math.round(Number($("max-discharge").value) * 1000)));
  $("send-low").addEventListener("click", () => send("price_low_micro_per_kwh", Math.round(Number($("price-low").value) * 1e6)));
  $("send-high").addEventListener("click", () => send("price_high_micro_per_kwh", Math.round(Number($("price-high").value) * 1e6)));
  $("send-company").addEventListener("click", async () => {
    try {
      const b = await GL.api(`/sites/${site}/battery/sale-company`, { method: "PUT", json: { company: $("sale-company").value || null } });
      showCompany(b.sale_company);
      GL.toast(b.sale_company ? `Stored energy goes to ${companyNames[b.sale_company]} in the sell-to-company mode` : "No company chosen");
    } catch (e) { GL.toast(e.message, true); }
  });
  $("battery-form").addEventListener("submit", (ev) => ev.preventDefault());

  (async () => {
    const [, b] = await Promise.all([loadSite(), loadBattery(), loadCommands(), loadCompanies()]);
    showCompany(b.sale_company); // the companies' names may have come after the battery
    initForm(b);
    GL.stream(["command", "power"], (ev) => {
      if (ev.site_id !== site) return;
      if (ev.kind === "command") {
        const c = commands.get(ev.id);
        if (c) { c.status = ev.status; c.detail = ev.detail || ""; renderCommands(); }
        else loadCommands();
        if (ev.status === "applied") loadBattery();
      } else if (ev.kind === "power" && ev.device_kind === "accumulator") {
        if (ev.soc_permille !== null && ev.soc_permille !== undefined) $("rep-soc").textContent = GL.pct(ev.soc_permille);
      }
    });
    setInterval(() => { loadSite().catch(() => {}); }, 15000);
  })().catch((e) => GL.toast(e.message, true));
})();
