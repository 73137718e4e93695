// The edge handler as a Deno or Bun server, run by runtimes.test.mjs from a folder where the packed
// tarball is installed: one `createProxy` in front of UPSTREAM per policy in POLICY_FILES (a JSON
// object, name to file), each on its own port of 127.0.0.1. Prints one JSON line
// `{"runtime": …, "ports": {name: port}}` once all listen.
import { readFileSync } from 'node:fs';
import { Validator } from 'tokengate';
import { createProxy } from 'tokengate/edge';

const env = (name) => (globalThis.Deno ? Deno.env.get(name) : process.env[name]);
const files = JSON.parse(env('POLICY_FILES'));

async function serve(handler) {
  if (globalThis.Deno) {
    return new Promise((resolve) => {
      Deno.serve({ hostname: '127.0.0.1', port: 0, onListen: ({ port }) => resolve(port) }, handler);
    });
  }
  if (globalThis.Bun) return Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: handler }).port;
  throw new Error('run this with deno or bun');
}

const ports = {};
for (const [name, file] of Object.entries(files)) {
  const validator = new Validator(readFileSync(file, 'utf8'));
  ports[name] = await serve(createProxy(validator, { upstream: env('UPSTREAM') }));
}
console.log(JSON.stringify({ runtime: globalThis.Deno ? 'deno' : 'bun', ports }));
