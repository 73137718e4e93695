// A Cloudflare Worker in front of a dbt-style API: tokengate decides every request; a denial is
// answered here (SPEC §7), an allowed request goes to the upstream with its identity headers set
// and the client's copies removed, and the upstream's answer comes back with any deprecation
// notices added. The policy and the upstream's URL are the Worker's vars (wrangler.toml).
import { Validator } from 'tokengate'; // the `workerd` build: its .wasm is imported as a module
import { createEdge } from 'tokengate/edge';

let edge; // one Validator per isolate, built on the first request (vars arrive with it)

export default {
  async fetch(request, env) {
    edge ??= createEdge(new Validator(env.TOKENGATE_POLICY));
    const out = edge(request);
    if (out instanceof Response) return out; // the denial, with its status, headers and body

    const url = new URL(request.url);
    const upstream = new URL(url.pathname + url.search, env.UPSTREAM);
    // `manual`: redirects go back to the client, as any proxy does.
    const response = await fetch(new Request(upstream, out.request), { redirect: 'manual' });
    return out.respond(response);
  },
};
