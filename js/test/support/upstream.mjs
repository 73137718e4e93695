// A stand-in for the dbt API behind an edge: it answers every request with what it received
// (`{ path, headers }` as JSON, header names lowercase) and counts requests, so a test can tell
// whether a request reached it and with which headers. Loopback only.
import { createServer, request as requestRaw } from 'node:http';

export async function startUpstream() {
  const seen = [];
  const server = createServer((req, res) => {
    const record = { method: req.method, path: req.url, headers: req.headers };
    seen.push(record);
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-upstream', 'echo');
    res.end(JSON.stringify(record));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    count: () => seen.length,
    last: () => seen.at(-1),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** One raw HTTP request (exact target, repeated header lines kept) and its answer, on a fresh
 * connection (a kept-alive one the server has just closed fails with `socket hang up`). */
export function rawRequest(port, { method, target, host, headers }) {
  return new Promise((resolve, reject) => {
    // HTTP/1.1 needs a Host; without one in the case, the server's own address, which names no account.
    const lines = ['Host', host ?? `127.0.0.1:${port}`, ...headers];
    const req = requestRaw({ host: '127.0.0.1', port, method, path: target, headers: lines, timeout: 10_000, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: new Headers(Object.entries(res.headers).map(([k, v]) => [k, String(v)])), body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.end();
  });
}
