// ethers.js v6 client for the ocnd Registry contract, run by
// tests/registry/test_ethers_compat.py against the embedded dev chain's
// JSON-RPC server.  It does what JavaScript registry tooling does: network
// detection, EIP-1559 transactions signed locally, receipts, EIP-191 raw
// signatures, eth_call reads, log queries and revert-reason decoding.
//
// usage: node registry_client.mjs RPC_URL REGISTRY_ADDRESS ABI_JSON [PRIVATE_KEY]
//   (or the environment: OCND_RPC_URL, OCND_REGISTRY_ADDRESS,
//    OCND_REGISTRY_ABI, OCND_PRIVATE_KEY).  ABI_JSON is either a bare ABI
//   array or an artifact object with an "abi" key.  The private key must
//   belong to a funded account; it becomes the node operator and pays for
//   everything else.
//
// Prints one JSON object on stdout.  Exits non-zero on any unexpected error.

import { readFileSync } from "node:fs";
import {
  Contract,
  JsonRpcProvider,
  Signature,
  Wallet,
  getBytes,
  hexlify,
  parseEther,
  solidityPackedKeccak256,
  toUtf8Bytes,
  toUtf8String,
} from "ethers";

const [rpcUrl, registryAddress, abiPath, privateKey] = [
  [2, "OCND_RPC_URL"],
  [3, "OCND_REGISTRY_ADDRESS"],
  [4, "OCND_REGISTRY_ABI"],
  [5, "OCND_PRIVATE_KEY"],
].map(([i, name]) => process.argv[i] || process.env[name]);

if (!rpcUrl || !registryAddress || !abiPath || !privateKey) {
  console.error("usage: node registry_client.mjs RPC_URL REGISTRY_ADDRESS ABI_JSON PRIVATE_KEY");
  process.exit(2);
}

const loaded = JSON.parse(readFileSync(abiPath, "utf8"));
const abi = Array.isArray(loaded) ? loaded : loaded.abi;

const DOMAIN = process.env.OCND_NODE_DOMAIN || "https://ethers-node.example";
const ROLE = { CPO: 0, EMSP: 1 };

const ocpi = (text) => hexlify(toUtf8Bytes(text.toUpperCase()));
const ocpiText = (hex) => toUtf8String(getBytes(hex));
const plain = (value) =>
  JSON.parse(JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v)));

async function mined(txPromise) {
  const tx = await txPromise;
  const receipt = await tx.wait(1, 15000);
  return { tx, receipt };
}

/** The error ethers throws for ``action`` (code, decoded reason, raw
 *  revert data), or null when it succeeds. */
async function revertOf(action) {
  try {
    await action();
  } catch (error) {
    return {
      code: error.code ?? null,
      reason: error.reason ?? null,
      data: error.data ?? null,
      action: error.action ?? null,
      message: error.shortMessage ?? error.message,
    };
  }
  return null;
}

async function main() {
  // The dev chain mines every transaction at once, faster than ethers' 250 ms
  // request cache: without cacheTimeout -1, a second send within 250 ms
  // would reuse the first one's cached eth_getTransactionCount (stale nonce).
  const provider = new JsonRpcProvider(rpcUrl, undefined, { pollingInterval: 100, cacheTimeout: -1 });
  const out = {};

  const network = await provider.getNetwork();
  out.chainId = Number(network.chainId);
  out.blockNumberStart = await provider.getBlockNumber();

  const operator = new Wallet(privateKey, provider);
  const registry = new Contract(registryAddress, abi, operator);
  out.operator = operator.address;
  out.operatorBalance = (await provider.getBalance(operator.address)).toString();

  // 1. the wallet registers itself as a node operator (EIP-1559 tx)
  {
    const { tx, receipt } = await mined(registry.setNode(DOMAIN));
    out.setNode = {
      hash: tx.hash,
      type: tx.type,
      status: receipt.status,
      block: receipt.blockNumber,
      events: receipt.logs
        .map((entry) => registry.interface.parseLog(entry))
        .filter(Boolean)
        .map((event) => ({ name: event.name, operator: event.args.operator, domain: event.args.domain })),
    };
  }

  // 2. a party, funded by the operator, lists itself under that node
  const party = Wallet.createRandom(provider);
  out.party = { address: party.address, countryCode: "DE", partyId: "ETH", roles: [ROLE.CPO] };
  {
    const { receipt } = await mined(operator.sendTransaction({ to: party.address, value: parseEther("1") }));
    out.fundStatus = receipt.status;
    const asParty = registry.connect(party);
    const { tx, receipt: listed } = await mined(
      asParty.setParty(ocpi("de"), ocpi("eth"), [ROLE.CPO], operator.address),
    );
    out.setParty = { hash: tx.hash, status: listed.status, from: tx.from };
  }

  // 3. raw: an unfunded party signs setPartyRaw, the operator sends and pays.
  //    The contract recovers keccak256("\x19Ethereum Signed Message:\n32" ++
  //    keccak256(abi.encodePacked(party, cc, pid, roles, operator))); ethers'
  //    solidityPacked pads array elements to 32 bytes, like Solidity.
  const rawParty = Wallet.createRandom();
  const rawRoles = [ROLE.CPO, ROLE.EMSP];
  out.rawParty = { address: rawParty.address, countryCode: "NL", partyId: "RAW", roles: rawRoles };
  {
    const paramHash = solidityPackedKeccak256(
      ["address", "bytes2", "bytes3", "uint8[]", "address"],
      [rawParty.address, ocpi("nl"), ocpi("raw"), rawRoles, operator.address],
    );
    const signature = Signature.from(await rawParty.signMessage(getBytes(paramHash)));
    const { tx, receipt } = await mined(
      registry.setPartyRaw(
        rawParty.address, ocpi("nl"), ocpi("raw"), rawRoles, operator.address,
        signature.v, signature.r, signature.s,
      ),
    );
    out.setPartyRaw = {
      hash: tx.hash, status: receipt.status, from: tx.from,
      v: signature.v, r: signature.r, s: signature.s,
    };
    out.rawPartyBalance = (await provider.getBalance(rawParty.address)).toString();
  }

  // 4. read everything back with eth_call
  {
    const [op, domain] = await registry.getOperatorByOcpi(ocpi("de"), ocpi("eth"));
    const details = await registry.getPartyDetailsByOcpi(ocpi("nl"), ocpi("raw"));
    const byAddress = await registry.getPartyDetailsByAddress(party.address);
    out.read = {
      node: await registry.getNode(operator.address),
      nodeOperators: [...(await registry.getNodeOperators())],
      parties: [...(await registry.getParties())],
      operatorByOcpi: { operator: op, domain },
      rawPartyDetails: {
        party: details.partyAddress,
        roles: details.roles.map(Number),
        operator: details.operatorAddress,
        domain: details.operatorDomain,
      },
      partyDetails: {
        countryCode: ocpiText(byAddress.countryCode),
        partyId: ocpiText(byAddress.partyId),
        roles: byAddress.roles.map(Number),
        operator: byAddress.operatorAddress,
        domain: byAddress.operatorDomain,
      },
    };
  }

  // 5. the PartyUpdate logs through eth_getLogs (indexed operator filter)
  {
    const events = await registry.queryFilter(
      // positional over all inputs; only operatorAddress (the last) is set
      registry.filters.PartyUpdate(null, null, null, null, null, null, operator.address),
      out.blockNumberStart,
    );
    out.partyEvents = events.map((e) => ({
      party: e.args.partyAddress,
      countryCode: ocpiText(e.args.countryCode),
      partyId: ocpiText(e.args.partyId),
      roles: e.args.roles.map(Number),
    }));
  }

  // 6. reverts: the domain is taken; ethers must decode the reason both from
  //    eth_call (staticCall) and from eth_estimateGas (a send)
  {
    const asParty = registry.connect(party);
    out.revertCall = await revertOf(() => asParty.setNode.staticCall(DOMAIN));
    out.revertEstimate = await revertOf(() => asParty.setNode(DOMAIN));
  }

  // 7. rejected sends: ethers classifies them by the node's message (geth's
  //    "nonce too low" / "insufficient funds"), on eth_sendRawTransaction and,
  //    for the funds, on eth_estimateGas too
  {
    const stale = (await provider.getTransactionCount(operator.address)) - 1;
    out.staleNonce = await revertOf(() =>
      operator.sendTransaction({ to: party.address, value: 1n, nonce: stale }));
    const broke = Wallet.createRandom(provider);
    out.noFundsSend = await revertOf(() =>
      broke.sendTransaction({ to: party.address, value: 1n, gasLimit: 21000 }));
    out.noFundsEstimate = await revertOf(() =>
      broke.sendTransaction({ to: party.address, value: 1n }));
  }

  out.blockNumberEnd = await provider.getBlockNumber();
  provider.destroy();
  process.stdout.write(JSON.stringify(plain(out)) + "\n");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
