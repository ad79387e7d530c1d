/* Signing in the browser's wallet for an account that signed in with one (GET /me says
   signs_with "wallet"): the server prepares the EIP-712 typed data (orders, cancels, battery
   commands), the wallet signs it with eth_signTypedData_v4, the page sends the signature. The
   server checks the signer is the account's key, as for any signed order or command. */
"use strict";
const GLWallet = (() => {
  let me = null;
  async function account() {
    if (!me) me = await GL.api("/me");
    return me;
  }
  /* true when the page must ask the wallet (the server holds no key of this session's account) */
  async function inWallet() {
    return (await account()).signs_with === "wallet";
  }

  async function sign(typedData) {
    const eth = window.ethereum;
    if (!eth) throw new Error("This account signs in its wallet, and this browser has no wallet: open the app where your wallet is.");
    const a = await account();
    const chain = Number(await eth.request({ method: "eth_chainId" }));
    if (chain !== Number(typedData.domain.chainId)) {
      throw new Error(`Your wallet is on chain ${chain}; switch it to chain ${typedData.domain.chainId} to sign for gridledger.`);
    }
    const accounts = (await eth.request({ method: "eth_accounts" })).map((x) => x.toLowerCase());
    if (!accounts.includes(a.address.toLowerCase())) {
      throw new Error(`Your wallet's account is not ${a.address}, the one signed in: switch accounts in the wallet or sign in again.`);
    }
    return eth.request({ method: "eth_signTypedData_v4", params: [a.address, JSON.stringify(typedData)] });
  }

  /* fields as POST /orders/prepare: region, side, energy_wh, price_micro_per_kwh, slot_start_s, target */
  async function placeOrder(fields) {
    const prepared = await GL.api("/orders/prepare", { json: fields });
    const signature = await sign(prepared.typed_data);
    return GL.api("/orders", { json: { signed: { ...prepared.order, signature } } });
  }

  async function cancelOrder(orderId) {
    const c = await GL.api(`/orders/${orderId}/cancel`);
    const signature = await sign(c.typed_data);
    return GL.api(`/orders/${orderId}/cancel`, { json: { signature, nonce: c.nonce } });
  }

  /* a battery setting: the command's record (body) with the wallet's 65-byte signature appended */
  async function command(site, setting, value) {
    const prepared = await GL.api(`/sites/${site}/battery/commands/prepare`, { json: { setting, value } });
    const signature = await sign(prepared.typed_data);
    return GL.api(`/sites/${site}/battery/commands`, { json: { payload: prepared.body + signature.replace(/^0x/, "") } });
  }

  return { account, inWallet, sign, placeOrder, cancelOrder, command };
})();
