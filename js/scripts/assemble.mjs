// Joins the two wasm-pack outputs into the one npm package the `exports` of package.json describe:
//   dist/node/  CommonJS glue + wasm (require), an ESM facade over it (import)
//   dist/web/   ES-module glue + wasm with async init / initSync (browsers, bundlers), and the
//               Workers entry that imports the .wasm as a module
//   dist/lib/   the Fetch, fetch-guard and Express fronts, ESM and CommonJS
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

/** An ES module of top-level `export function` / `export class` declarations and no imports, as
 * CommonJS: the same text with `export ` dropped and the names gathered into module.exports. The
 * files in lib/ are written in that shape so that no bundler is needed. */
async function commonJs(from, to) {
  const text = await readFile(at(from), 'utf8');
  const names = [...text.matchAll(/^export (?:async )?(?:function|class) (\w+)/gm)].map((m) => m[1]);
  const rest = text.replace(/^export (?=(?:async )?(?:function|class) )/gm, '');
  if (names.length === 0 || /^\s*(export|import)\b/m.test(rest)) {
    throw new Error(`${from}: only top-level \`export function\`/\`export class\` and no imports`);
  }
  await writeFile(at(to), `'use strict';\n${rest}\nmodule.exports = { ${names.join(', ')} };\n`);
}
await commonJs('lib/api.js', 'dist/node/api.cjs');

// The fronts over a Validator (tokengate/edge, /guard, /express): no wasm of their own, one file
// for every runtime, as ESM and as CommonJS.
await mkdir(at('dist/lib'), { recursive: true });
for (const name of ['edge', 'guard', 'express']) {
  await copyFile(at(`lib/${name}.js`), at(`dist/lib/${name}.js`));
  await commonJs(`lib/${name}.js`, `dist/lib/${name}.cjs`);
}

// Browsers.
await copyFile(at('pkg-web/tokengate.js'), at('dist/web/tokengate.js'));
await copyFile(at('pkg-web/tokengate_bg.wasm'), at('dist/web/tokengate_bg.wasm'));
await copyFile(at('lib/api.js'), at('dist/web/api.js'));
await copyFile(at('lib/web.js'), at('dist/web/index.js'));
// Workers: the same web build, its .wasm imported as a module (see lib/workerd.js).
await copyFile(at('lib/workerd.js'), at('dist/web/workerd.js'));

// require() under TypeScript's node16/nodenext resolution reads .d.cts; the API is the same.
await copyFile(at('index.d.ts'), at('dist/node/index.d.cts'));
console.log('assembled js/dist');
