/* Trading: the open slot and its gate closure, recent prices and volumes, companies and their
   offers (sell stored energy to one), own orders (place, cancel) and fills with settlements. */
"use strict";
(() => {
  const region = document.body.dataset.region;
  const $ = (id) => document.getElementById(id);
  let market = null;
  let clockOffsetMs = 0; // platform clock minus local clock, at the last market read
  let speed = 1; // platform clock seconds per wall second, estimated from two market reads
  let lastRead = null;

  async function loadMarket() {
    const m = await GL.api(`/regions/${region}/market`);
    const platformNow = Date.parse(m.now);
    const wall = Date.now();
    if (lastRead && wall - lastRead.wall > 500 && platformNow > lastRead.platform) {
      speed = (platformNow - lastRead.platform) / (wall - lastRead.wall);
    }
    lastRead = { wall, platform: platformNow };
    clockOffsetMs = platformNow - wall;
    market = m;
    $("slot").textContent = GL.slotTime(m.open_slot_start_s);
    GL.slotChoice($("order-slot"), m);
    $("retail").textContent = GL.perKwh(m.tariff.retail_price_micro_per_kwh);
    $("feedin").textContent = GL.perKwh(m.tariff.feed_in_price_micro_per_kwh);
    $("fee").textContent = GL.perKwh(m.tariff.grid_fee_micro_per_kwh);
    GL.rows("#recent tbody", m.recent, (s) => [
      GL.slotTime(s.slot_start_s),
      s.clearing_price_micro_per_kwh === null ? "no peer trade" : GL.perKwh(s.clearing_price_micro_per_kwh),
      GL.kwh(s.volume_wh), GL.kwh(s.company_wh), String(s.trades), s.status,
    ], "No slot cleared yet.");
    tick();
  }

  function tick() {
    if (!market) return;
    const elapsed = Date.now() - lastRead.wall;
    const platformNow = lastRead.platform + elapsed * speed;
    const left = Math.max(0, Math.round((Date.parse(market.gate_closure) - platformNow) / 1000));
    const m = Math.floor(left / 60), s = left % 60;
    $("countdown").textContent = `${m} min ${String(s).padStart(2, "0")} s`;
  }

  async function loadCompanies() {
    const list = await GL.api(`/regions/${region}/companies`);
    const ul = $("companies");
    ul.replaceChildren();
    if (!list.length) ul.append(GL.el("li", { class: "muted", text: "No registered company." }));
    for (const c of list) {
      const offer = c.offer
        ? `buys up to ${GL.kwh(c.offer.energy_wh)} at ${GL.perKwh(c.offer.price_micro_per_kwh)} (you get ${GL.perKwh(c.offer.net_price_micro_per_kwh)} after the network fee)`
        : "no offer for the open slot";
      ul.append(GL.el("li", { class: "card company", "data-address": c.address },
        GL.el("h3", { text: c.name }), GL.el("p", { class: "muted", text: offer }),
        GL.el("button", { type: "button", class: "sell", "data-company": c.address, text: `Sell stored energy to ${c.name}`,
          onclick: () => sell(c), ...(c.offer ? {} : { disabled: "" }) })));
    }
  }

  async function sell(company) {
    const wh = Math.round(Number($("sell-kwh").value) * 1000);
    try {
      const o = (await GLWallet.inWallet())
        // at the company's offer less the network fee, as the server prices it for demo accounts
        ? await GLWallet.placeOrder({ region, side: "ask", energy_wh: wh, target: company.address,
          price_micro_per_kwh: company.offer.net_price_micro_per_kwh })
        : await GL.api("/orders/sell-to-company", { json: { company: company.address, energy_wh: wh } });
      GL.toast(`Offered ${GL.kwh(o.energy_wh)} to ${company.name} for the slot at ${GL.slotTime(o.slot_start_s)}`);
      loadOrders();
    } catch (e) { GL.toast(e.message, true); }
  }

  $("order-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {
      region, side: $("side").value, slot_start_s: Number($("order-slot").value),
      energy_wh: Math.round(Number($("order-kwh").value) * 1000),
      price_micro_per_kwh: Math.round(Number($("order-price").value) * 1e6),
    };
    try {
      const o = (await GLWallet.inWallet()) ? await GLWallet.placeOrder(body) : await GL.api("/orders", { json: body });
      GL.toast(`Order placed for the slot at ${GL.slotTime(o.slot_start_s)}`);
      loadOrders();
    } catch (e) { GL.toast(e.message, true); }
  });

  async function cancel(o) {
    try {
      if (await GLWallet.inWallet()) await GLWallet.cancelOrder(o.order_id);
      else await GL.api(`/orders/${o.order_id}/cancel`, { json: {} });
      GL.toast("Order cancelled");
      loadOrders();
    } catch (e) { GL.toast(e.message, true); }
  }

  async function loadOrders() {
    const page = await GL.api("/orders?limit=30");
    GL.rows("#orders tbody", page.items, (o) => [
      GL.slotTime(o.slot_start_s), o.side === "bid" ? "buy" : "sell", GL.kwh(o.energy_wh),
      GL.perKwh(o.price_micro_per_kwh), GL.kwh(o.filled_wh),
      GL.el("span", { class: "order-status", "data-order": o.order_id, "data-target": o.target || "", text: o.status }),
      o.status === "open" ? GL.el("button", { type: "button", text: "Cancel", onclick: () => cancel(o) }) : "",
    ], "No orders yet.");
  }

  async function loadFills() {
    const page = await GL.api("/fills?limit=30");
    GL.rows("#fills tbody", page.items, (f) => [
      GL.slotTime(f.slot_start_s), f.side, f.counterparty, GL.kwh(f.energy_wh), GL.money(f.amount_micro),
      GL.el("a", { href: `/app/archive/trades/${f.region}/${f.slot_start_s}/${f.index}`, class: "fill-link", text: f.block_number ? `block ${f.block_number}` : "settlement" }),
    ], "No fills yet.");
  }

  (async () => {
    await Promise.all([loadMarket(), loadCompanies(), loadOrders(), loadFills()]);
    setInterval(tick, 1000);
    setInterval(() => { loadMarket().catch(() => {}); }, 5000);
    GL.stream(["slot_cleared", "trade_settled", "delivery_settled"], () => {
      loadMarket().catch(() => {});
      loadCompanies().catch(() => {});
      loadOrders().catch(() => {});
      loadFills().catch(() => {});
    });
  })().catch((e) => GL.toast(e.message, true));
})();
