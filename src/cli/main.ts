/**
 * The `ipvs-ts` command line: parsing (Node's `util.parseArgs`), dispatch to
 * the commands, and one-line errors with documented exit codes. `main()`
 * takes its input and output as a {@link CliIo}, so it runs in-process too.
 * @module
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { EXIT, InputError, processIo, UnavailableError, UsageError, type CliIo } from './io.js';
import { COMMANDS, type CommandContext } from './commands.js';

// Start-up time is most of a cold command's time (docs/benchmarks.md, "Cold
// command line"), so modules a command may not need are imported when needed:
// the error classes below only once something failed, the client and the
// formatters by the commands that use them (commands.ts), the sandbox by its
// command.

/** The error classes main() maps to exit codes, loaded on the error path only. */
async function errorClasses() {
  const [{ IpvsError }, { ApplyError }, { InvalidArgumentError, NetlinkError }, { ImportError }] = await Promise.all([
    import('../ipvs/errors.js'),
    import('../ipvs/apply.js'),
    import('../errors.js'),
    import('../importers/types.js'),
  ]);
  return { IpvsError, ApplyError, InvalidArgumentError, NetlinkError, ImportError };
}
type ErrorClasses = Awaited<ReturnType<typeof errorClasses>>;

const USAGE = `Usage: ipvs-ts <command> [options]

Commands:
  list [--stats|--rate|--thresholds|--persistent-conn|--tun-info] [--exact] [--sort|--nosort] [--json]
                          the table, byte for byte as ipvsadm -Ln prints it
  save                    the table as ipvsadm -Sn rules
  restore [FILE]          apply ipvsadm rules (from FILE or standard input), atomically
  snapshot                the whole table as JSON (services, destinations, timeouts, sync daemons)
  apply FILE [--dry-run] [--removal delete|quiesce] [--json]
                          make the table equal FILE (a snapshot); prints the plan, one line per operation
  import ldirectord|lvs|keepalived FILE
                          convert a configuration into ipvs-ts JSON (warnings on standard error)
  run CONFIG [--check] [--format json|ldirectord|lvs|keepalived] [--on-exit leave|quiesce|flush] [--metrics-listen HOST:PORT]
                          the director daemon: table, health checks, reload on SIGHUP, stop on SIGTERM (docs/daemon.md)
  sandbox [--backend auto|netns|uml|qemu] [--check] -- COMMAND...
                          run COMMAND in a throwaway kernel with IPVS; exits with its code (125: the sandbox failed)

Options of every command:
  --netns NAME|PATH       work in a network namespace (NAME means /run/netns/NAME)
  -h, --help              this text

Exit codes: 0 ok, 1 operation failed, 2 usage error, 3 invalid input, 4 IPVS or namespace unavailable.
`;

/** Options every command understands. */
const COMMON = {
  netns: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Resolve `--netns`: a bare name means /run/netns/NAME. */
export function netnsPath(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === '') throw new UsageError('--netns: needs a namespace name or path');
  const path = value.includes('/') ? value : `/run/netns/${value}`;
  if (!existsSync(path)) throw new UnavailableError(`--netns ${value}: ${path} does not exist`);
  return path;
}

function exitCodeOf(e: unknown, { IpvsError, ImportError, InvalidArgumentError, NetlinkError }: ErrorClasses): number {
  if (e instanceof UsageError) return EXIT.USAGE;
  if (e instanceof InputError || e instanceof ImportError || e instanceof InvalidArgumentError || e instanceof SyntaxError) return EXIT.INVALID_INPUT;
  if (e instanceof UnavailableError) return EXIT.UNAVAILABLE;
  if (e instanceof IpvsError && e.operation === 'open') return EXIT.UNAVAILABLE;
  if (e instanceof NetlinkError && (e.code === 'EPERM' || e.code === 'EACCES')) return EXIT.UNAVAILABLE;
  const code = (e as { code?: unknown })?.code;
  if (code === 'ERR_DLOPEN_FAILED' || code === 'EPERM') return EXIT.UNAVAILABLE;
  return EXIT.FAILED;
}

/** The error on one line, starting with the program's name. */
function errorLine(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return `ipvs-ts: ${message.replace(/\s*\n\s*/g, '; ')}\n`;
}

/** Is this the kernel's EINVAL (directly, or as the failing operation of an apply/restore)? */
function isEinval(e: unknown, { ApplyError, NetlinkError }: ErrorClasses): boolean {
  if (e instanceof NetlinkError) return e.code === 'EINVAL';
  if (e instanceof ApplyError) return e.code === 'EINVAL';
  return false;
}

/**
 * A namespace whose loopback interface is down and that has no IPv4 address
 * (a fresh `ip netns add`) has no local routing table yet, and the kernel then
 * refuses every IPv4 destination with EINVAL (`inet_addr_type()` finds no
 * table and IPVS takes the address for a broadcast). Say so instead of
 * leaving the user with "invalid argument".
 */
async function explainEinval(e: unknown, netns: string | undefined, classes: ErrorClasses): Promise<unknown> {
  if (!isEinval(e, classes)) return e;
  try {
    const { Addresses } = await import('../system/addresses.js');
    const addrs = Addresses.open(netns === undefined ? {} : { netns });
    try {
      const lo = await addrs.link('lo');
      const ipv4 = (await addrs.list()).some((a) => a.family === 'ipv4');
      if (!lo.up && !ipv4) {
        const where = netns === undefined ? 'this network namespace' : `namespace ${netns}`;
        const fix = netns === undefined ? 'ip link set lo up' : netns.startsWith('/run/netns/') ? `ip -n ${netns.slice('/run/netns/'.length)} link set lo up` : `nsenter --net=${netns} ip link set lo up`;
        return new Error(
          `${(e as Error).message} — the loopback interface lo is down in ${where} and it has no IPv4 address; ` +
            `until lo is up the kernel refuses every IPv4 destination with EINVAL (fix: ${fix})`,
        );
      }
    } finally {
      addrs.close();
    }
  } catch {
    // Keep the original error when the check itself fails.
  }
  return e;
}

/**
 * Run the command line `argv` (without `node` and the script), writing to
 * `io`. Resolves with the exit code; never throws.
 * @example
 * ```ts
 * const code = await main(['list', '--stats', '--netns', 'lb']);
 * ```
 */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    (command === undefined ? io.stderr : io.stdout)(USAGE);
    return command === undefined ? EXIT.USAGE : EXIT.OK;
  }
  let netns: string | undefined;
  try {
    // The sandbox has its own command line (see src/sandbox/cli.mjs): passed on as it is.
    if (command === 'sandbox') return await (await import('./sandbox.js')).runSandboxCommand(rest);
    const spec = COMMANDS[command];
    if (!spec) throw new UsageError(`unknown command ${JSON.stringify(command)} (try ipvs-ts --help)`);
    let parsed;
    try {
      parsed = parseArgs({ args: [...rest], options: { ...COMMON, ...spec.options }, allowPositionals: true, strict: true });
    } catch (e) {
      throw new UsageError(`${command}: ${(e as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`);
    }
    if (parsed.values.help) {
      io.stdout(USAGE);
      return EXIT.OK;
    }
    if (parsed.positionals.length < spec.positionals[0] || parsed.positionals.length > spec.positionals[1]) {
      throw new UsageError(`${command}: ${spec.positionals[1] === 0 ? 'takes no arguments' : `expects ${spec.usage}`}, got ${parsed.positionals.length === 0 ? 'none' : JSON.stringify(parsed.positionals.join(' '))}`);
    }
    netns = netnsPath(parsed.values.netns as string | undefined);
    const ctx: CommandContext = { io, netns, values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals };
    return await spec.run(ctx);
  } catch (e) {
    const classes = await errorClasses();
    const explained = await explainEinval(e, netns, classes);
    io.stderr(errorLine(explained));
    return exitCodeOf(e, classes);
  }
}
