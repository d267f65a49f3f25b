import { createServer } from 'node:net';

function tryPort(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      const bound = (srv.address() as { port: number }).port;
      srv.close(() => resolve(bound));
    });
  });
}

/**
 * Ports for the test server on 127.0.0.1: a configured non-zero port is used as is; a 0 reuses the port of the
 * last run when it is still free (so registered test agents keep reaching it), else takes any free port.
 */
export async function choosePorts(configured: [number, number], remembered?: [number, number]): Promise<[number, number]> {
  const out: number[] = [];
  for (let i = 0; i < 2; i++) {
    const want = configured[i] ?? 0;
    if (want) {
      out.push(want);
      continue;
    }
    const last = remembered?.[i];
    const reused = last && !out.includes(last) ? await tryPort(last) : undefined;
    let port = reused ?? (await tryPort(0));
    while (port === undefined || out.includes(port)) port = await tryPort(0);
    out.push(port);
  }
  return [out[0], out[1]];
}
