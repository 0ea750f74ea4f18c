// Lines of a child process's output, awaitable by pattern: the daemons'
// logs, servers' "ready", `ip monitor`. Shared by the kernel tests that drive
// processes through what they print.
import { createInterface } from 'node:readline';

/** Lines of a stream, awaitable by pattern (each line is matched once, by the first waiter that wants it). */
export class OutputLines {
  readonly all: string[] = [];
  private waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  constructor(stream: NodeJS.ReadableStream) {
    createInterface({ input: stream }).on('line', (l) => {
      this.all.push(l);
      this.waiters = this.waiters.filter((w) => (w.re.test(l) ? (w.resolve(l), false) : true));
    });
  }
  /** The next line matching `re` from now on (or from line `from`); rejects with the whole output after `timeoutMs`. */
  next(re: RegExp, timeoutMs = 20_000, from = this.all.length): Promise<string> {
    const seen = this.all.slice(from).find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms; output:\n${this.all.join('\n')}`)), timeoutMs);
      this.waiters.push({ re, resolve: (l) => (clearTimeout(t), resolve(l)) });
    });
  }
}
