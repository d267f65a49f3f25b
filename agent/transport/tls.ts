// The last hop: TLS over the (possibly tunnelled) socket, accepting only the pinned certificate.
import type { Socket } from 'node:net';
import { DEFAULT_CIPHERS, connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readIntoReusedBuffer } from '../../protocol/reused-reads.js';
import { TransportError } from './errors.js';

/**
 * Node's default list with AES-128-GCM first. The payload is already sealed with AES-256-GCM before it leaves
 * the machine; for the transport layer AES-128-GCM is as standard and ~40% cheaper per byte.
 */
export const PREFERRED_CIPHERS = ['TLS_AES_128_GCM_SHA256', ...DEFAULT_CIPHERS.split(':').filter((c) => c !== 'TLS_AES_128_GCM_SHA256')].join(':');

export function normalisePin(pin: string): string {
  return pin.replace(/:/g, '').toUpperCase();
}

export function pinnedTls(socket: Socket, pin: string, label: string, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    // The pin replaces CA validation: servers are reached by IP with a self-issued certificate.
    const tls = tlsConnect({ socket, rejectUnauthorized: false, ciphers: PREFERRED_CIPHERS });
    // Decrypted data goes into one reused buffer instead of a new Buffer per read (see reused-reads.ts).
    readIntoReusedBuffer(tls);
    // Closing the TLS layer must close the TCP (or tunnel) socket beneath it, whoever closes it.
    tls.once('close', () => socket.destroy());
    const fail = (err: TransportError) => {
      clearTimeout(timer);
      tls.destroy();
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new TransportError(`${label}: TLS handshake timed out after ${timeoutMs} ms`, 'timeout')), timeoutMs);
    tls.once('secureConnect', () => {
      clearTimeout(timer);
      const got = tls.getPeerCertificate()?.fingerprint256;
      if (!got || normalisePin(got) !== normalisePin(pin)) {
        fail(new TransportError(`${label}: TLS pin mismatch: the server certificate (SHA-256 ${got ?? 'none'}) is not the pinned one`, 'tls-pin'));
        return;
      }
      resolve(tls);
    });
    // Stays attached after resolve: a late error then just closes the socket instead of going unhandled.
    tls.on('error', (err) => fail(new TransportError(`${label}: TLS failed: ${err.message}`, 'tls-error')));
  });
}
