// Joins the two wasm-pack outputs into the one npm package the `exports` of package.json describe:
//   dist/node/  CommonJS glue + wasm (require), an ESM facade over it (import)
//   dist/web/   ES-module glue + wasm with async init / initSync (browsers, bundlers)
// lib/api.js, the public API over the raw bindings, is written once as an ES module; the CommonJS copy
// is the same text with its one `export` turned into module.exports.
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const js = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = (...p) => join(js, ...p);

await rm(at('dist'), { recursive: true, force: true });
await mkdir(at('dist/node'), { recursive: true });
await mkdir(at('dist/web'), { recursive: true });

// Node: the glue is CommonJS, but the package is "type": "module", hence .cjs.
await copyFile(at('pkg-nodejs/tokengate.js'), at('dist/node/tokengate.cjs'));
await copyFile(at('pkg-nodejs/tokengate_bg.wasm'), at('dist/node/tokengate_bg.wasm'));
await copyFile(at('lib/node.cjs'), at('dist/node/index.cjs'));
await copyFile(at('lib/node.mjs'), at('dist/node/index.mjs'));

const api = await readFile(at('lib/api.js'), 'utf8');
const marker = 'export function bindApi(';
if (api.split(marker).length !== 2 || /^\s*(export|import)\b/m.test(api.replace(marker, ''))) {
  throw new Error('lib/api.js must have exactly one export, `export function bindApi(`, and no imports');
}
await writeFile(
  at('dist/node/api.cjs'),
  `'use strict';\n${api.replace(marker, 'function bindApi(')}\nmodule.exports = { bindApi };\n`,
);

// Browsers.
await copyFile(at('pkg-web/tokengate.js'), at('dist/web/tokengate.js'));
await copyFile(at('pkg-web/tokengate_bg.wasm'), at('dist/web/tokengate_bg.wasm'));
await copyFile(at('lib/api.js'), at('dist/web/api.js'));
await copyFile(at('lib/web.js'), at('dist/web/index.js'));

// require() under TypeScript's node16/nodenext resolution reads .d.cts; the API is the same.
await copyFile(at('index.d.ts'), at('dist/node/index.d.cts'));
console.log('assembled js/dist');
