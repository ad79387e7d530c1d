/* Company: its per-slot buy offers (post, withdraw) and what it bought. */
"use strict";
(() => {
  const region = document.body.dataset.region;
  const $ = (id) => document.getElementById(id);

  async function withdraw(o) {
    try { await GL.api(`/company/offers/${o.slot_start_s}?region=${region}`, { method: "DELETE" }); GL.toast("Offer withdrawn"); load(); }
    catch (e) { GL.toast(e.message, true); }
  }

  async function slots() {
    GL.slotChoice($("of-slot"), await GL.api(`/regions/${region}/market`));
  }

  async function load() {
    slots().catch(() => {});
    const [offers, bought] = await Promise.all([GL.api("/company/offers"), GL.api("/company/purchases?limit=50")]);
    GL.rows("#offers tbody", offers, (o) => [GL.slotTime(o.slot_start_s), GL.kwh(o.energy_wh), GL.perKwh(o.price_micro_per_kwh),
      GL.el("span", { class: "offer-status", "data-slot": String(o.slot_start_s), text: o.status }),
      o.status === "open" ? GL.el("button", { type: "button", text: "Withdraw", onclick: () => withdraw(o) }) : ""], "No offers.");
    GL.rows("#purchases tbody", bought.items, (f) => [GL.slotTime(f.slot_start_s), GL.kwh(f.energy_wh), GL.perKwh(f.price_micro_per_kwh),
      GL.money(f.amount_micro), f.tx_hashes.length ? f.tx_hashes[0].slice(0, 12) + "…" : "–"], "Nothing bought yet.");
  }

  $("offer-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await GL.api("/company/offers", { json: { region, slot_start_s: Number($("of-slot").value), energy_wh: Math.round(Number($("of-kwh").value) * 1000),
        price_micro_per_kwh: Math.round(Number($("of-price").value) * 1e6) } });
      GL.toast("Offer posted");
      load();
    } catch (e) { GL.toast(e.message, true); }
  });
  load().catch((e) => GL.toast(e.message, true));
  GL.stream(["slot_cleared", "trade_settled"], () => load().catch(() => {}));
})();
