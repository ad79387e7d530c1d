/* A trade's details: its on-chain transaction and block, and the server's Merkle proof check. */
"use strict";
(async () => {
  const $ = (id) => document.getElementById(id);
  const path = $("trade").dataset.path;
  try {
    const p = await GL.api(`/archive/trades/${path}/proof`);
    $("d-slot").textContent = GL.slotTime(p.slot_start_s);
    $("d-energy").textContent = GL.kwh(p.energy_wh);
    $("d-price").textContent = GL.perKwh(p.price_micro_per_kwh);
    $("d-amount").textContent = GL.money(p.amount_micro);
    $("d-fee").textContent = GL.money(p.fee_micro);
    $("d-tx").textContent = p.tx_hash;
    $("d-block").textContent = String(p.block_number);
    $("d-log").textContent = String(p.log_index);
    $("d-contract").textContent = p.market_contract;
    $("d-hash").textContent = p.trade_hash;
    $("d-root").textContent = p.trades_root;
    $("d-proof").textContent = p.proof.length ? p.proof.join(" ") : "(a single trade: the leaf is the root)";
    const v = $("d-verified");
    v.textContent = p.verified ? "valid: the trade is in the slot's root on chain" : "INVALID: the proof does not match the root on chain";
    v.className = p.verified ? "ok" : "error";
    v.dataset.verified = String(p.verified);
  } catch (e) {
    $("d-verified").textContent = e.status === 404 ? "No such trade of yours." : e.message;
    $("d-verified").className = "error";
  }
})();
