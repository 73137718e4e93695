// Cloudflare Workers entry (the `workerd` export condition, which wrangler and other Workers
// bundlers resolve first): Workers may not fetch or compile WebAssembly at run time, so the .wasm is
// imported as a module, compiled when the Worker is deployed, and instantiated here once at start-up.
// Nothing to call first: the API is ready when the import resolves.
import wasm from './tokengate_bg.wasm';
import init, { initSync } from './index.js';

initSync(wasm);

export * from './index.js';
export default init;
