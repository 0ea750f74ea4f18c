/**
 * The small network lab the HA seed examples (000, 002, 003) share: hosts as
 * network namespaces plugged into bridges, node processes started inside
 * them, and their output read line by line. `close()` kills the processes and
 * deletes the namespaces; call it in a `finally`.
 *
 * ```ts
 * const lab = new Lab('s0', { lb: ['10.60.0.2/24'], client: ['10.60.0.50/24'] });
 * try {
 *   const server = lab.node('lb', `require('net').createServer((s) => s.end('hi')).listen(7, () => console.log('ready'))`);
 *   await server.next(/ready/);
 * } finally {
 *   lab.close();
 * }
 * ```
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A node process in a namespace, its stdout read one line at a time. */
export class Proc {
  private readonly lines: string[] = [];
  private waiter?: () => void;
  private ended = false;

  constructor(readonly name: string, readonly child: ChildProcess, echo: boolean) {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      if (echo) console.log(line);
      this.lines.push(line);
      this.waiter?.();
    });
    rl.on('close', () => {
      this.ended = true;
      this.waiter?.();
    });
  }

  /** The next line (matching `match`, skipping the others); rejects after `timeoutMs` or when the process ends. */
  async next(match?: RegExp, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.lines.length) {
        const line = this.lines.shift()!;
        if (!match || match.test(line)) return line;
      }
      if (this.ended) throw new Error(`${this.name} ended while waiting for ${match ?? 'a line'}`);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${this.name}: no ${match ?? 'line'} within ${timeoutMs} ms`)), Math.max(0, deadline - Date.now()));
        this.waiter = () => {
          clearTimeout(timer);
          this.waiter = undefined;
          resolve();
        };
      });
    }
  }

  /** Forget the lines read but not consumed yet: the next `next()` sees only what comes after. */
  flush(): void {
    this.lines.length = 0;
  }

  /** Write one line to the process and return the next line it prints. */
  ask(line: string): Promise<string> {
    this.child.stdin!.write(`${line}\n`);
    return this.next();
  }

  /** SIGKILL: the process dies as in a crash. */
  kill(): void {
    this.child.kill('SIGKILL');
  }
}

/**
 * A host's interfaces: its addresses (`ADDR/PREFIX`) on `eth0` on the one
 * bridge `br0`, or, by segment (bridge) name, `eth0`, `eth1`, ... in that order.
 */
export type HostSpec = string[] | Record<string, string[]>;

/** Hosts (network namespaces) on bridges (all in one `lan` namespace). */
export class Lab {
  /** Namespace name of each host. */
  readonly ns: Record<string, string> = {};
  private readonly procs: Proc[] = [];
  private readonly bridge: string;

  /** Creates a namespace per host and plugs its interfaces into the bridges, with their addresses. */
  constructor(prefix: string, hosts: Record<string, HostSpec>) {
    this.bridge = `${prefix}-lan-${process.pid}`;
    execFileSync('ip', ['netns', 'add', this.bridge]);
    try {
      const bridges = new Set<string>();
      let port = 0;
      for (const [host, spec] of Object.entries(hosts)) {
        this.ns[host] = `${prefix}-${host}-${process.pid}`;
        execFileSync('ip', ['netns', 'add', this.ns[host]!]);
        Object.entries(Array.isArray(spec) ? { br0: spec } : spec).forEach(([segment, addrs], i) => {
          if (!bridges.has(segment)) {
            this.ip('lan', 'link', 'add', segment, 'type', 'bridge');
            this.ip('lan', 'link', 'set', segment, 'up');
            bridges.add(segment);
          }
          const eth = `eth${i}`;
          execFileSync('ip', ['link', 'add', eth, 'netns', this.ns[host]!, 'type', 'veth', 'peer', 'name', `p${port}`, 'netns', this.bridge]);
          this.ip('lan', 'link', 'set', `p${port++}`, 'master', segment, 'up');
          for (const a of addrs) this.ip(host, 'addr', 'add', a, 'dev', eth);
          this.ip(host, 'link', 'set', eth, 'up');
        });
        this.ip(host, 'link', 'set', 'lo', 'up');
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** `ip -n <host's namespace> ...` (host `lan` is the bridge's namespace); returns its output. */
  ip(host: string, ...args: string[]): string {
    return execFileSync('ip', ['-n', host === 'lan' ? this.bridge : this.ns[host]!, ...args]).toString();
  }

  /** The `/run/netns/...` path of a host, for the library's `netns` options. */
  netns(host: string): string {
    return `/run/netns/${this.ns[host]}`;
  }

  /** The MAC address of a host's interface. */
  mac(host: string, iface = 'eth0'): string {
    return /link\/ether ([0-9a-f:]+)/.exec(this.ip(host, 'link', 'show', iface))![1]!;
  }

  /**
   * Start node in a host's namespace: a script (`node -e`) or, with an array,
   * a file and its arguments. With `echo`, its lines are also printed.
   */
  node(host: string, script: string | string[], echo = false): Proc {
    const args = typeof script === 'string' ? ['-e', script] : script;
    const child = spawn('ip', ['netns', 'exec', this.ns[host]!, process.execPath, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    const proc = new Proc(host, child, echo);
    this.procs.push(proc);
    return proc;
  }

  /** Kill every process started here and delete the namespaces. */
  close(): void {
    for (const p of this.procs) p.kill();
    for (const n of [...Object.values(this.ns), this.bridge]) {
      try {
        execFileSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  }
}

/**
 * A client for the examples, to run with {@link Lab.node}: each line it reads
 * is a JSON list of `[address, port]`; it opens one TCP connection to each in
 * turn, reads until the server closes (or 1.5 s pass), and prints the answers
 * (an HTTP request on port 80, and only the body of the reply)
 * as a JSON list (`error CODE` for a failed connection).
 */
export const CLIENT = `
  const net = require('net');
  const get = ([host, port]) => new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 1500 });
    let got = '';
    s.on('data', (d) => got += d);
    s.on('end', () => resolve(got.split('\\r\\n\\r\\n').pop().trim()));
    s.on('timeout', () => s.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    s.on('error', (e) => resolve('error ' + (e.code || e.message)));
    if (port === 80) s.write('GET / HTTP/1.0\\r\\n\\r\\n');
  });
  require('readline').createInterface({ input: process.stdin }).on('line', async (line) => {
    const out = [];
    for (const target of JSON.parse(line)) out.push(await get(target));
    console.log(JSON.stringify(out));
  });
  console.log('ready');`;
