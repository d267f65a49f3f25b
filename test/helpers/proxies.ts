// Real proxies for the transport tests: dante (SOCKS4/4a/5), squid and tinyproxy (HTTP CONNECT), each
// started on 127.0.0.1 on a free port with a temp config dir, waited for by connecting, stopped by PID.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer as createNetServer, connect, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './paths.js';
import { openConnection, TransportError, type ConnectOptions } from '../../agent/transport/index.js';

/** A tool the tests need; a missing one fails the test with the install line (never a skip). */
export function requireTool(path: string, debianPackage: string): void {
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: install it with: sudo apt-get install -y --no-install-recommends ${debianPackage} (or run scripts/setup.sh test)`);
  }
}

export function requireRoot(why: string): void {
  if (process.getuid?.() !== 0) throw new Error(`this test must run as root: ${why}`);
}

/** A port that was free a moment ago (for daemons that cannot listen on port 0 and tell us). */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A port with nothing listening: the "server refused" case. */
export const closedPort = freePort;

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Resolves when `port` accepts a connection; rejects when the daemon exits first or after `timeoutMs`. */
export async function waitForPort(port: number, child: ChildProcess, name: string, log: () => string, timeoutMs = 30_000): Promise<void> {
  let exited: string | undefined;
  const onExit = (code: number | null, signal: string | null) => {
    exited = `exited (code ${code}, signal ${signal})`;
  };
  child.once('exit', onExit);
  const deadline = Date.now() + timeoutMs;
  try {
    for (let attempt = 0; ; attempt++) {
      if (exited) throw new Error(`${name} ${exited} before listening on 127.0.0.1:${port}:\n${log()}`);
      if (await tryConnect(port)) return;
      if (Date.now() > deadline) throw new Error(`${name} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms:\n${log()}`);
      // Poll the port with a short back-off between connection attempts.
      await new Promise((resolve) => setTimeout(resolve, Math.min(20 * (attempt + 1), 200)));
    }
  } finally {
    child.off('exit', onExit);
  }
}

export interface RunningProxy {
  name: string;
  host: string;
  port: number;
  pid: number;
  dir: string;
  log(): string;
  stop(): Promise<void>;
}

interface Daemon {
  child: ChildProcess;
  output: string[];
}

function startDaemon(command: string, args: string[]): Daemon {
  // Own process group, so stop() reaches the daemon's children (dante's workers, squid's helpers).
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  return { child, output };
}

async function stopDaemon(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const pid = child.pid;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return;
  }
  const killer = setTimeout(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, 5_000);
  await exited;
  clearTimeout(killer);
}

async function launch(name: string, port: number, dir: string, command: string, args: string[], extraLog: () => string = () => ''): Promise<RunningProxy> {
  const { child, output } = startDaemon(command, args);
  const log = () => output.join('') + extraLog();
  try {
    await waitForPort(port, child, name, log);
  } catch (err) {
    await stopDaemon(child);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    name,
    host: '127.0.0.1',
    port,
    pid: child.pid ?? 0,
    dir,
    log,
    async stop() {
      await stopDaemon(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ProxyUser {
  username: string;
  password: string;
}

export interface DanteOptions {
  /** Username/password (SOCKS5 method "username"); without it the proxy takes SOCKS4, SOCKS4a and SOCKS5 without auth. */
  user?: ProxyUser;
  /** Destination ports on 127.0.0.1 the rule set allows; every other destination is blocked. */
  allowPorts: number[];
}

function sha512Crypt(password: string): string {
  return execFileSync('openssl', ['passwd', '-6', '-stdin'], { input: password }).toString().trim();
}

/**
 * danted's "username" method checks system accounts (getpwnam + shadow). Rather than adding a user to
 * this machine, the auth instance runs in a private mount namespace (unshare -m, root only) where a
 * temp passwd/shadow pair holding only root, nobody and the test user is bind-mounted over /etc's.
 */
export async function startDante(options: DanteOptions): Promise<RunningProxy> {
  requireTool('/usr/sbin/danted', 'dante-server');
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-dante-'));
  const port = await freePort();
  const method = options.user ? 'username' : 'none';
  const passRules = options.allowPorts
    .map(
      (p) =>
        `socks pass {\n  from: 127.0.0.0/8 to: 127.0.0.1/32 port = ${p}\n  protocol: tcp\n  command: connect\n  socksmethod: ${method}\n  log: connect error\n}\n`,
    )
    .join('');
  writeFileSync(
    join(dir, 'danted.conf'),
    `logoutput: stderr
internal: 127.0.0.1 port = ${port}
external: 127.0.0.1
clientmethod: none
socksmethod: ${method}
user.privileged: root
user.unprivileged: nobody
timeout.negotiate: 10
client pass {
  from: 127.0.0.0/8 to: 0.0.0.0/0
}
${passRules}socks block {
  from: 0.0.0.0/0 to: 0.0.0.0/0
  log: error connect
}
`,
  );
  if (!options.user) return launch('danted', port, dir, '/usr/sbin/danted', ['-f', join(dir, 'danted.conf')]);

  requireRoot("danted's username method reads account passwords, and the test mounts its own passwd/shadow");
  const passwd = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .filter((l) => /^(root|nobody):/.test(l));
  const group = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .filter((l) => /^(root|nogroup):/.test(l));
  const { username, password } = options.user;
  writeFileSync(join(dir, 'passwd'), [...passwd, `${username}:x:64999:65534::/nonexistent:/usr/sbin/nologin`, ''].join('\n'));
  writeFileSync(join(dir, 'group'), [...group, ''].join('\n'));
  writeFileSync(
    join(dir, 'shadow'),
    [`root:*:20000:0:99999:7:::`, `nobody:*:20000:0:99999:7:::`, `${username}:${sha512Crypt(password)}:20000:0:99999:7:::`, ''].join('\n'),
    {
      mode: 0o600,
    },
  );
  const script = ['passwd', 'group', 'shadow'].map((f) => `mount --bind ${join(dir, f)} /etc/${f}`).join(' && ');
  return launch('danted (username)', port, dir, 'unshare', [
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    `${script} && exec /usr/sbin/danted -f ${join(dir, 'danted.conf')}`,
  ]);
}

export interface HttpProxyOptions {
  /** Basic-auth user; without it the proxy needs no authentication. */
  user?: ProxyUser;
  allowPorts: number[];
}

export async function startSquid(options: HttpProxyOptions): Promise<RunningProxy> {
  requireTool('/usr/sbin/squid', 'squid');
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-squid-'));
  // squid drops to its own user (proxy): it must read the config and write logs and the pid file here.
  chmodSync(dir, 0o777);
  const port = await freePort();
  const lines = [
    `http_port 127.0.0.1:${port}`,
    `pid_filename ${join(dir, 'squid.pid')}`,
    `cache_log ${join(dir, 'cache.log')}`,
    `access_log stdio:${join(dir, 'access.log')}`,
    'cache deny all',
    'cache_mem 8 MB',
    `coredump_dir ${dir}`,
    'shutdown_lifetime 0 seconds',
    'netdb_filename none',
    `acl allowed_ports port ${options.allowPorts.join(' ')}`,
    'acl CONNECT method CONNECT',
    'acl localnet src 127.0.0.0/8',
    'http_access deny !CONNECT',
    'http_access deny CONNECT !allowed_ports',
    'http_access deny !localnet',
  ];
  if (options.user) {
    writeFileSync(
      join(dir, 'htpasswd'),
      `${options.user.username}:${execFileSync('openssl', ['passwd', '-apr1', '-stdin'], { input: options.user.password }).toString().trim()}\n`,
      { mode: 0o644 },
    );
    lines.push(
      `auth_param basic program /usr/lib/squid/basic_ncsa_auth ${join(dir, 'htpasswd')}`,
      'auth_param basic children 1 startup=1',
      'auth_param basic realm holdfast-test',
      'acl authed proxy_auth REQUIRED',
      'http_access allow authed',
    );
  } else {
    lines.push('http_access allow localnet');
  }
  lines.push('http_access deny all', '');
  writeFileSync(join(dir, 'squid.conf'), lines.join('\n'), { mode: 0o644 });
  const cacheLog = () =>
    ['cache.log', 'access.log']
      .map((f) => {
        try {
          return readFileSync(join(dir, f), 'utf8');
        } catch {
          return '';
        }
      })
      .join('');
  return launch('squid', port, dir, '/usr/sbin/squid', ['-N', '-f', join(dir, 'squid.conf')], cacheLog);
}

export async function startTinyproxy(options: HttpProxyOptions): Promise<RunningProxy> {
  requireTool('/usr/bin/tinyproxy', 'tinyproxy');
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-tinyproxy-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const lines = [
    `Port ${port}`,
    'Listen 127.0.0.1',
    'Timeout 30',
    'MaxClients 20',
    'LogLevel Info',
    'Allow 127.0.0.1',
    ...options.allowPorts.map((p) => `ConnectPort ${p}`),
  ];
  if (process.getuid?.() === 0) lines.push('User nobody', 'Group nogroup');
  if (options.user) lines.push(`BasicAuth ${options.user.username} ${options.user.password}`);
  writeFileSync(join(dir, 'tinyproxy.conf'), `${lines.join('\n')}\n`, { mode: 0o644 });
  return launch('tinyproxy', port, dir, '/usr/bin/tinyproxy', ['-d', '-c', join(dir, 'tinyproxy.conf')]);
}

export const demoCertPath = join(repoRoot, 'examples', 'tls', 'demo-server.crt');
export const demoKeyPath = join(repoRoot, 'examples', 'tls', 'demo-server.key');
export const demoPin = new X509Certificate(readFileSync(demoCertPath)).fingerprint256;
/** A valid-looking pin that no test server has. */
export const wrongPin = Array.from({ length: 32 }, () => 'AB').join(':');

export interface PinnedServer {
  port: number;
  endpoint: string;
  pin: string;
  /** Connections that completed a TLS handshake. */
  handshakes: number;
  close(): Promise<void>;
}

/** A TLS server on 127.0.0.1 with the demo certificate: the far end of every tunnel test. */
export async function startPinnedServer(): Promise<PinnedServer> {
  const sockets = new Set<Socket>();
  const server: TlsServer = createTlsServer({ cert: readFileSync(demoCertPath), key: readFileSync(demoKeyPath) }, (socket) => {
    result.handshakes++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.resume(); // read (and drop) input so the client's close is seen
    socket.end('holdfast-test\n');
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as { port: number }).port;
  const result: PinnedServer = {
    port,
    endpoint: `127.0.0.1:${port}`,
    pin: demoPin,
    handshakes: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
  return result;
}

/** A TCP server that accepts and never speaks: a TLS handshake against it times out. */
export async function startSilentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: NetServer = createNetServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The TransportError an openConnection that must fail rejects with (fails the test if it connects). */
export async function connectionFailure(endpoint: string, options: ConnectOptions): Promise<TransportError> {
  const err = await openConnection(endpoint, options).then(
    (s) => {
      s.destroy();
      throw new Error(`connection to ${endpoint} unexpectedly succeeded`);
    },
    (e: unknown) => e,
  );
  if (!(err instanceof TransportError)) throw err;
  return err;
}

/** Opens a pinned connection and returns what the test server says before it closes. */
export async function greeting(endpoint: string, options: ConnectOptions): Promise<string> {
  const tls = await openConnection(endpoint, options);
  try {
    return await new Promise<string>((resolve, reject) => {
      let text = '';
      tls.on('data', (d: Buffer) => (text += d.toString()));
      tls.once('end', () => resolve(text));
      tls.once('error', reject);
    });
  } finally {
    tls.destroy();
  }
}
