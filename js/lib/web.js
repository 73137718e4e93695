// Browser entry (ES module): call the default export `init()` once (it fetches the .wasm beside this
// file), or `initSync(bytes)` with bytes or a WebAssembly.Module you already have.
import rawInit, { initSync as rawInitSync } from './tokengate.js';
import * as raw from './tokengate.js';
import { bindApi } from './api.js';

let ready = false;

function assertReady() {
  if (!ready) throw new Error('tokengate is not initialised: await init() (or call initSync) first');
}

/**
 * Loads the WebAssembly. With no argument, fetches `tokengate_bg.wasm` next to this module.
 * @param {string | URL | Request | Response | BufferSource | WebAssembly.Module | Promise<any>} [input]
 */
export default async function init(input) {
  await rawInit(input === undefined ? undefined : { module_or_path: input });
  ready = true;
}

/** Loads the WebAssembly synchronously from bytes or a compiled WebAssembly.Module. */
export function initSync(input) {
  rawInitSync({ module: input });
  ready = true;
}

export const { inspectToken, hashToken, Validator, PolicyError } = bindApi(raw, assertReady);
