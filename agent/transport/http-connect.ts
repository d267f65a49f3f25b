// HTTP CONNECT (RFC 9110 §9.3.6) with optional basic auth, over an already open TCP socket to the proxy.
import type { Socket } from 'node:net';
import type { AgentProxy } from '../config-types.js';
import { describeUser, maskForeign, TransportError, type TransportErrorKind } from './errors.js';
import { joinHostPort, type HostPort } from './address.js';

const maxHeaderBytes = 16 * 1024;

function classify(status: number, statusText: string, proxy: AgentProxy): { kind: TransportErrorKind; reason: string } {
  // The status text is the proxy's own words: masked in case it echoes the password.
  const shown = maskForeign(statusText, [proxy.password]);
  const said = `HTTP ${status}${shown ? ` ${shown}` : ''}`;
  // 407 is the standard answer; tinyproxy answers a wrong BasicAuth password with 401.
  if (status === 407 || status === 401) {
    return proxy.username
      ? { kind: 'proxy-auth', reason: `proxy authentication failed (wrong user or password for ${describeUser(proxy)}; ${said})` }
      : { kind: 'proxy-auth', reason: `proxy requires authentication but no username/password is configured (${said})` };
  }
  if (status === 403) return { kind: 'proxy-refused', reason: `proxy refused the destination (not allowed by its rule set; ${said})` };
  if (status === 502 || status === 503 || status === 500) {
    return { kind: 'refused', reason: `proxy could not connect to the server: it refused or is unreachable (${said})` };
  }
  if (status === 504) return { kind: 'timeout', reason: `proxy timed out reaching the server (${said})` };
  return { kind: 'proxy-error', reason: `proxy answered the CONNECT request with ${said}` };
}

export function httpConnectTunnel(socket: Socket, proxy: AgentProxy, target: HostPort, label: string, timeoutMs: number): Promise<Socket> {
  const authority = joinHostPort(target.host, target.port);
  const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
  if (proxy.username !== undefined) {
    const token = Buffer.from(`${proxy.username}:${proxy.password ?? ''}`, 'utf8').toString('base64');
    lines.push(`Proxy-Authorization: Basic ${token}`);
  }
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const done = (err?: TransportError) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (err) {
        socket.destroy();
        reject(err);
      }
    };
    const timer = setTimeout(() => done(new TransportError(`${label}: proxy did not answer the CONNECT request within ${timeoutMs} ms`, 'timeout')), timeoutMs);
    const onError = (err: Error) =>
      done(new TransportError(`${label}: connection to the proxy failed: ${maskForeign(err.message, [proxy.password])}`, 'proxy-error'));
    const onClose = () => done(new TransportError(`${label}: proxy closed the connection before answering CONNECT (wrong proxy type or port?)`, 'proxy-error'));
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) {
        if (received.length > maxHeaderBytes) done(new TransportError(`${label}: proxy answer header exceeds ${maxHeaderBytes} bytes`, 'proxy-error'));
        return;
      }
      const statusLine = received.subarray(0, received.indexOf('\r\n')).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
      if (!m) {
        done(new TransportError(`${label}: proxy did not answer in HTTP (is it an HTTP proxy?)`, 'proxy-error'));
        return;
      }
      const status = Number(m[1]);
      if (status < 200 || status > 299) {
        const { kind, reason } = classify(status, (m[2] ?? '').trim(), proxy);
        done(new TransportError(`${label}: ${reason}`, kind));
        return;
      }
      done();
      socket.pause();
      const rest = received.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}
