'use strict';
// Node entry (require): the wasm-bindgen nodejs build loads the .wasm synchronously on first require,
// so init() and initSync() exist only to let the same code run in Node and in browsers.
const raw = require('./tokengate.cjs');
const { bindApi } = require('./api.cjs');

const api = bindApi(raw);

/** No-op in Node: the WebAssembly is already loaded. */
async function init() {}
/** No-op in Node: the WebAssembly is already loaded. */
function initSync() {}

module.exports = { ...api, init, initSync, default: init };
