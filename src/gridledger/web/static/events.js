/* Demand response: the region's events meant for this home, whether it takes part (with the
   opt-out buttons), what it did (its reported baseline and what it drew), and its alerts, which
   the live stream pushes. */
"use strict";
(() => {
  const site = document.body.dataset.site;
  const KINDS = {
    PRICE: "prices", IMPORT_CAPACITY_LIMIT: "import limit", SIMPLE: "load shed",
    ALERT_OTHER: "notice",
  };
  const when = (e) => `${new Date(e.start).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" })} – ${new Date(e.end).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`;
  const wh = (v) => (v === null || v === undefined ? "–" : GL.kwh(v));

  async function optOut(body, label) {
    try {
      render(await GL.api(`/sites/${site}/demand-response/opt-out`, { method: "PUT", json: body }));
      GL.toast(label);
    } catch (err) {
      GL.toast(err.message, true);
    }
  }

  function button(text, body, label) {
    return GL.el("button", { type: "button", text, onclick: () => optOut(body, label) });
  }

  function alertItem(a) {
    return GL.el("li", { class: "alert-" + a.alert }, GL.el("strong", { text: a.alert === "excess" ? "Excess consumption" : a.alert === "event" ? "Event" : a.alert === "notice" ? "Notice" : "Report" }), ": " + a.text);
  }

  function render(view) {
    GL.rows("#programs tbody", view.programs, (p) => [
      p.long_name || p.name,
      p.opted_out ? "not taking part" : "taking part",
      p.opted_out
        ? button(`Take part in ${p.name}`, { program_id: p.program_id, opted_out: false }, "Taking part again")
        : button(`Opt out of ${p.name}`, { program_id: p.program_id, opted_out: true }, "Opted out of the program"),
    ], "No programs.");
    GL.rows("#events tbody", view.events, (e) => [
      e.name || e.event_id,
      KINDS[e.payload_type] || e.payload_type,
      when(e),
      e.status,
      e.takes_part ? "taking part" : "not taking part",
      wh(e.baseline_wh),
      wh(e.usage_wh),
      e.status === "ended"
        ? "–"
        : e.opted_out_of_event
          ? button(`Take part in ${e.name || e.event_id}`, { event_id: e.event_id, opted_out: false }, "Taking part again")
          : button(`Opt out of ${e.name || e.event_id}`, { event_id: e.event_id, opted_out: true }, "Opted out of the event"),
    ], "No events for your home.");
    const list = document.getElementById("alerts");
    list.replaceChildren(...view.alerts.map(alertItem));
    if (!view.alerts.length) list.append(GL.el("li", { class: "muted", text: "No alerts." }));
  }

  async function load() {
    try {
      render(await GL.api(`/sites/${site}/demand-response`));
    } catch (err) {
      GL.toast(err.message, true);
    }
  }

  load();
  GL.stream(["alert"], (ev) => {
    if (ev.site_id !== site) return;
    load();
    GL.toast(ev.text);
  }, 30000);
})();
