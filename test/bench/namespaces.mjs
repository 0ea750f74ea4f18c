// Network namespaces for the benchmarks: each fresh one has lo up and a
// dummy interface with 10.0.0.1/8 (the tables' real servers are 10.x), and
// all are deleted together at the end, so that no namespace teardown runs in
// the background of a measurement.
import { execFileSync, spawnSync } from 'node:child_process';

/** A set of namespaces named `<prefix>-<pid>-<n>`: `add()` makes one and returns its name, `deleteAll()` removes them. */
export function benchNamespaces(prefix) {
  const names = [];
  return {
    add() {
      const name = `${prefix}-${process.pid}-${names.length}`;
      execFileSync('ip', ['netns', 'add', name]);
      names.push(name);
      const ip = (...a) => execFileSync('ip', ['-n', name, ...a]);
      ip('link', 'add', 'lan0', 'type', 'dummy');
      ip('addr', 'add', '10.0.0.1/8', 'dev', 'lan0');
      ip('link', 'set', 'lan0', 'up');
      ip('link', 'set', 'lo', 'up');
      return name;
    },
    /** Delete every namespace made so far; `strict` throws on a failed deletion (else it is ignored). */
    deleteAll({ strict = true } = {}) {
      for (const name of names.splice(0)) {
        if (strict) execFileSync('ip', ['netns', 'del', name]);
        else spawnSync('ip', ['netns', 'del', name]);
      }
    },
  };
}
