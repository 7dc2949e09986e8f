#!/usr/bin/env node
// Deterministic build of the ocnd Registry and Permissions contracts.
//
//   node build.js [OUTPUT_DIR]
//
// Compiles contracts/*.sol with the exact solc pinned in package.json using
// standard-JSON input and writes one artifact per contract to OUTPUT_DIR
// (default: ../ocnd/registry/artifacts).  Artifacts are JSON with sorted keys,
// two-space indent and a trailing newline, so rebuilding from the same
// sources produces byte-identical files.
"use strict";

const fs = require("fs");
const path = require("path");
const solc = require("solc");

const HERE = __dirname;
const CONTRACTS = ["Registry", "Permissions"];
const DEFAULT_OUT = path.join(HERE, "..", "ocnd", "registry", "artifacts");

// Everything that influences the emitted bytecode lives here and is recorded
// in each artifact.
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  // paris: no PUSH0, so the code runs on eth-tester, ganache 7.9.2 and
  // Energy Web Chain alike.
  evmVersion: "paris",
  // No IPFS/Swarm hash in the metadata trailer: the bytecode then depends
  // only on the sources, the settings and the compiler version.
  metadata: { bytecodeHash: "none" },
};

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
    return out;
  }
  return value;
}

function main() {
  const outDir = path.resolve(process.argv[2] || DEFAULT_OUT);
  const sources = {};
  for (const name of CONTRACTS) {
    const file = `${name}.sol`;
    sources[file] = { content: fs.readFileSync(path.join(HERE, file), "utf8") };
  }
  const input = {
    language: "Solidity",
    sources,
    settings: Object.assign({}, SETTINGS, {
      outputSelection: {
        "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
      },
    }),
  };

  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  let failed = false;
  for (const msg of output.errors || []) {
    process.stderr.write((msg.formattedMessage || msg.message) + "\n");
    if (msg.severity === "error") failed = true;
  }
  if (failed) {
    process.stderr.write("compilation failed\n");
    process.exit(1);
  }

  fs.mkdirSync(outDir, { recursive: true });
  for (const name of CONTRACTS) {
    const compiled = output.contracts[`${name}.sol`][name];
    const artifact = {
      contractName: name,
      abi: compiled.abi,
      bytecode: "0x" + compiled.evm.bytecode.object,
      deployedBytecode: "0x" + compiled.evm.deployedBytecode.object,
      compiler: { version: solc.version(), settings: SETTINGS },
    };
    const target = path.join(outDir, `${name}.json`);
    fs.writeFileSync(target, JSON.stringify(sortKeys(artifact), null, 2) + "\n");
    const runtime = compiled.evm.deployedBytecode.object.length / 2;
    const creation = compiled.evm.bytecode.object.length / 2;
    process.stdout.write(`${name}: ${creation} B creation, ${runtime} B runtime -> ${target}\n`);
    if (runtime > 24576) {
      process.stderr.write(`${name} runtime exceeds the EIP-170 limit of 24576 bytes\n`);
      process.exit(1);
    }
  }
}

main();
