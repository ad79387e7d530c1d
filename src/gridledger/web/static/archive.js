/* Archive: sales, purchases and delivery settlements with filters, totals by day or month, the
   CSV download of the same rows, and a link to each trade's details. */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let cursor = null;

  function query() {
    const q = new URLSearchParams();
    // local dates to the UTC instants of local midnight: the API wants times with an offset
    if ($("f-start").value) q.set("start", new Date($("f-start").value + "T00:00").toISOString());
    if ($("f-end").value) {
      const end = new Date($("f-end").value + "T00:00");
      end.setDate(end.getDate() + 1);
      q.set("end", end.toISOString());
    }
    if ($("f-kind").value) q.set("kind", $("f-kind").value);
    if ($("f-cp").value) q.set("counterparty", $("f-cp").value);
    return q;
  }

  const entryRow = (e) => [
    GL.slotTime(e.slot_start_s), e.kind, e.counterparty, GL.kwh(e.energy_wh),
    GL.perKwh(e.price_micro_per_kwh), GL.money(e.amount_micro),
    e.kind === "delivery"
      ? (e.tx_hash ? `tx ${e.tx_hash.slice(0, 10)}…` : "–")
      : GL.el("a", { href: `/app/archive/trades/${e.region}/${e.slot_start_s}/${e.index}`, class: "trade-link", text: "Trade details" }),
  ];

  async function load(more = false) {
    const q = query();
    q.set("limit", "100");
    if (more && cursor) q.set("cursor", cursor);
    const page = await GL.api("/archive?" + q);
    const tbody = document.querySelector("#entries tbody");
    if (more) {
      for (const e of page.items) {
        const tr = GL.el("tr");
        for (const c of entryRow(e)) tr.append(c instanceof Node ? GL.el("td", {}, c) : GL.el("td", { text: c }));
        tbody.append(tr);
      }
    } else {
      GL.rows(tbody, page.items, entryRow, "Nothing in this period.");
    }
    cursor = page.next_cursor;
    $("more").hidden = !cursor || page.items.length < 100;
    const tq = query();
    tq.set("by", $("f-by").value);
    tq.delete("counterparty");
    const totals = await GL.api("/archive/totals?" + tq);
    GL.rows("#totals tbody", totals, (t) => [t.period, GL.kwh(t.sold_wh), GL.kwh(t.bought_wh), GL.kwh(t.imbalance_wh),
      GL.money(t.received_micro), GL.money(t.paid_micro), GL.money(t.fees_micro)], "Nothing in this period.");
    $("csv").href = "/api/v1/archive/export.csv?" + query();
  }

  $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); load().catch((e) => GL.toast(e.message, true)); });
  $("more").addEventListener("click", () => load(true).catch((e) => GL.toast(e.message, true)));
  load().catch((e) => GL.toast(e.message, true));
})();
