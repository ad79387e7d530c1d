/* Activity plant, faults: each open fault with its explanation, an evidence plot (an SVG the
   server draws from the fault's evidence) and an Acknowledge button; the history of closed
   faults below. The live stream's fault events (opened, acknowledged, closed) reload the lists. */
"use strict";
(() => {
  const site = document.body.dataset.site;
  const $ = (id) => document.getElementById(id);
  const human = (s) => s.replaceAll("_", " ");
  const when = (ms) => (ms ? new Date(ms).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "–");

  async function allFaults() {
    const items = [];
    let cursor = "";
    for (;;) {
      const page = await GL.api(`/sites/${site}/faults?limit=100${cursor ? "&cursor=" + encodeURIComponent(cursor) : ""}`);
      items.push(...page.items);
      if (!page.next_cursor) return items;
      cursor = page.next_cursor;
    }
  }

  async function acknowledge(f, button) {
    button.disabled = true;
    try {
      await GL.api(`/sites/${site}/faults/${encodeURIComponent(f.id)}/acknowledge`, { method: "POST" });
      GL.toast(`${human(f.kind)} acknowledged`);
      await loadFaults(f.id);
    } catch (e) {
      button.disabled = false;
      GL.toast(e.message, true);
    }
  }

  function openFault(f, n) {
    const head = `fault-${n}-h`;
    const state = f.status === "acknowledged"
      ? GL.el("span", { class: "state acknowledged", text: `acknowledged ${when(f.acknowledged_ms)}` })
      : GL.el("span", { class: "state open", text: "open" });
    const evidence = Object.entries(f.evidence).filter(([k]) => k !== "persisted_steps")
      .map(([k, v]) => `${human(k)} ${v}`).join(", ");
    const li = GL.el("li", { class: `fault card ${f.severity}`, "data-id": f.id },
      GL.el("h4", { id: head, tabindex: "-1" }, GL.el("span", { text: human(f.kind) }), " ",
        GL.el("span", { class: `severity ${f.severity}`, text: f.severity })),
      GL.el("p", { class: "meta" }, `${f.device} · since ${when(f.first_seen_ms || f.opened_ms)} · last seen ${when(f.last_seen_ms)} · `, state),
      GL.el("p", { class: "explanation", text: f.detail }),
      GL.el("img", {
        class: "evidence", width: "320",
        src: `/app/sites/${site}/faults/${encodeURIComponent(f.id)}/evidence.svg?v=${f.last_seen_ms || 0}`,
        alt: `Evidence: ${evidence || "no numbers"}`,
      }));
    if (f.status === "open") {
      const button = GL.el("button", { type: "button", class: "acknowledge", "aria-describedby": head, text: "Acknowledge" });
      button.addEventListener("click", () => acknowledge(f, button));
      li.append(GL.el("div", { class: "buttons" }, button));
    }
    return li;
  }

  /* Re-render the lists; the keyboard stays on the fault it was on (``focusId``: the one just
     acknowledged, whose button is gone), on its button while it has one, else on its heading. */
  async function loadFaults(focusId = "") {
    const faults = await allFaults();
    const open = faults.filter((f) => f.status !== "closed");
    const ul = $("faults-open");
    const active = document.activeElement && ul.contains(document.activeElement) ? document.activeElement.closest("li") : null;
    const keep = focusId || (active ? active.dataset.id : "");
    ul.replaceChildren(...(open.length ? open.map(openFault) : [GL.el("li", { class: "muted", text: "No open faults." })]));
    const item = keep ? [...ul.children].find((li) => li.dataset.id === keep) : null;
    if (item) (item.querySelector("button.acknowledge") || item.querySelector("h4")).focus();
    const closed = faults.filter((f) => f.status === "closed").sort((a, b) => b.closed_ms - a.closed_ms);
    GL.rows("#faults-closed tbody", closed, (f) => [
      human(f.kind), f.device, f.severity, when(f.opened_ms), when(f.closed_ms),
      f.acknowledged_ms ? when(f.acknowledged_ms) : "no",
    ], "No closed faults.");
  }

  loadFaults().catch((e) => GL.toast(e.message, true));
  GL.stream(["fault"], (ev) => {
    if (ev.site_id === site) loadFaults().catch((e) => GL.toast(e.message, true));
  });
})();
