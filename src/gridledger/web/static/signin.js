/* Sign-in: demo accounts of the simulated neighbourhood, or a browser wallet (EIP-4361). */
"use strict";
(() => {
  const params = new URLSearchParams(location.search);
  if (params.get("expired")) document.getElementById("expired").hidden = false;
  const next = document.getElementById("next").value;
  const errorBox = document.getElementById("signin-error");

  function signedIn(session) {
    sessionStorage.setItem("gl-expires", session.expires_at);
    location.assign(next || "/app");
  }
  function fail(e) {
    errorBox.textContent = "Sign-in failed: " + e.message;
    errorBox.hidden = false;
  }

  async function demo(body) {
    try { signedIn(await GL.api("/auth/demo", { json: body })); } catch (e) { fail(e); }
  }

  (async () => {
    let accounts;
    try { accounts = await GL.api("/auth/demo"); } catch (e) { fail(e); return; }
    const form = document.getElementById("demo-form");
    if (!accounts.enabled) {
      form.hidden = true;
      document.getElementById("demo-off").hidden = false;
      return;
    }
    const select = document.getElementById("demo-site");
    for (const s of accounts.sites) select.append(GL.el("option", { value: s, text: s }));
    form.addEventListener("submit", (ev) => { ev.preventDefault(); demo({ site_id: select.value }); });
    const roles = document.getElementById("demo-roles");
    for (const r of accounts.roles.filter((r) => r !== "household")) {
      roles.append(GL.el("button", { type: "button", "data-role": r, text: `Sign in as the demo ${r}`, onclick: () => demo({ role: r }) }));
    }
  })();

  /* EIP-55: a hex letter is upper case where the keccak-256 of the lowercase address has a nibble >= 8. */
  function eip55(address) {
    const lower = address.toLowerCase().replace(/^0x/, "");
    const hash = keccak256(lower);
    let out = "0x";
    for (let i = 0; i < lower.length; i++) out += parseInt(hash[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
    return out;
  }

  const walletButton = document.getElementById("wallet-signin");
  if (!window.ethereum) {
    walletButton.disabled = true;
    document.getElementById("no-wallet").hidden = false;
  }
  walletButton.addEventListener("click", async () => {
    try {
      const [address] = await window.ethereum.request({ method: "eth_requestAccounts" });
      const n = await GL.api("/auth/nonce");
      const checksummed = eip55(address); // EIP-4361 wants the EIP-55 form; wallets often give lowercase
      const message = n.message_template.replace("ADDRESS", checksummed);
      const signature = await window.ethereum.request({ method: "personal_sign", params: [message, address] });
      signedIn(await GL.api("/auth/login", { json: { message, signature } }));
    } catch (e) { fail(e); }
  });
})();
