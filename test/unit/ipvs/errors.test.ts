// IpvsError: kernel errors told in the terms of the operation (src/ipvs/errors.ts).
// First over a fake kernel answering each errno (with and without an extended-ACK
// message), then with the real kernel's captured error replies.
import { afterEach, describe, expect, it } from 'vitest';
import { Ipvs } from '../../../src/ipvs/client.js';
import { IpvsError } from '../../../src/ipvs/errors.js';
import { NetlinkError } from '../../../src/errors.js';
import { capturedReply, fakeIpvsKernel, replayKernel, type FakeIpvsKernel } from '../../fixtures/ipvs/fixtures.js';
import { fakeSocketFactory } from '../../../src/netlink/fake-socket.js';
import { parseErrorMessage, parseMessages } from '../../../src/netlink/message.js';

const EPERM = 1;
const ENOENT = 2;
const ESRCH = 3;
const EEXIST = 17;
const ENODEV = 19;
const EINVAL = 22;

let clients: Ipvs[] = [];
afterEach(async () => {
  for (const c of clients) await c.close();
  clients = [];
});

/** A client whose kernel answers every IPVS request with -errno (and the extack message, if given). */
async function failing(errno: number, extack?: string): Promise<{ ipvs: Ipvs; kernel: FakeIpvsKernel }> {
  const kernel = fakeIpvsKernel((req, k) => {
    k.ack(req, -errno, extack);
    return true;
  });
  const ipvs = await Ipvs.open({ socketFactory: kernel.factory });
  clients.push(ipvs);
  return { ipvs, kernel };
}

async function rejection(p: Promise<unknown>): Promise<IpvsError> {
  const e = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(IpvsError);
  expect(e).toBeInstanceOf(NetlinkError);
  return e as IpvsError;
}

const svc = { protocol: 'tcp', address: '10.0.0.1', port: 80 } as const;
const svc6 = { protocol: 'udp', address: '2001:db8::1', port: 53 } as const;
const real = { address: '10.0.1.1', forward: 'masq' } as const;

interface Case {
  name: string;
  errno: number;
  code: string;
  operation: string;
  call: (i: Ipvs) => Promise<unknown>;
  /** Every fragment must appear in the message. */
  says: string[];
}

const CASES: Case[] = [
  { name: 'EPERM on addService', errno: EPERM, code: 'EPERM', operation: 'addService', call: (i) => i.addService({ ...svc, scheduler: 'rr' }), says: ['addService', 'permission denied', 'CAP_NET_ADMIN'] },
  { name: 'EPERM on listServices', errno: EPERM, code: 'EPERM', operation: 'listServices', call: (i) => i.listServices(), says: ['listServices', 'CAP_NET_ADMIN'] },
  { name: 'ESRCH on deleteService', errno: ESRCH, code: 'ESRCH', operation: 'deleteService', call: (i) => i.deleteService(svc), says: ['deleteService: no such service TCP 10.0.0.1:80'] },
  { name: 'ESRCH on updateService', errno: ESRCH, code: 'ESRCH', operation: 'updateService', call: (i) => i.updateService({ ...svc, scheduler: 'rr' }), says: ['updateService: no such service TCP 10.0.0.1:80'] },
  { name: 'ESRCH on getService (IPv6)', errno: ESRCH, code: 'ESRCH', operation: 'getService', call: (i) => i.getService(svc6), says: ['getService: no such service UDP [2001:db8::1]:53'] },
  { name: 'ESRCH on zero of a fwmark service', errno: ESRCH, code: 'ESRCH', operation: 'zero', call: (i) => i.zero({ fwmark: 5 }), says: ['zero: no such service FWM 5'] },
  { name: 'ESRCH on addDestination', errno: ESRCH, code: 'ESRCH', operation: 'addDestination', call: (i) => i.addDestination(svc, real), says: ['addDestination: no such service TCP 10.0.0.1:80'] },
  { name: 'ESRCH on listDestinations', errno: ESRCH, code: 'ESRCH', operation: 'listDestinations', call: (i) => i.listDestinations({ fwmark: 9, family: 'ipv6' }), says: ['no such service FWM 9 IPv6'] },
  {
    name: 'ENOENT on addService names the scheduler and the persistence engine',
    errno: ENOENT,
    code: 'ENOENT',
    operation: 'addService',
    call: (i) => i.addService({ ...svc, scheduler: 'mh', persistence: { timeout: 60 }, persistenceEngine: 'sip' }),
    says: ['addService', 'scheduler "mh"', 'persistence engine "sip"', 'ip_vs_mh', 'ip_vs_pe_sip'],
  },
  { name: 'ENOENT on addService without an engine names the scheduler', errno: ENOENT, code: 'ENOENT', operation: 'addService', call: (i) => i.addService({ ...svc, scheduler: 'foo' }), says: ['scheduler "foo"', 'ip_vs_foo'] },
  {
    name: 'ENOENT on updateDestination names destination and service',
    errno: ENOENT,
    code: 'ENOENT',
    operation: 'updateDestination',
    call: (i) => i.updateDestination(svc, real),
    says: ['updateDestination: no such destination 10.0.1.1:80 in service TCP 10.0.0.1:80'],
  },
  {
    name: 'ENOENT on deleteDestination names destination and service (IPv6)',
    errno: ENOENT,
    code: 'ENOENT',
    operation: 'deleteDestination',
    call: (i) => i.deleteDestination(svc6, { address: '2001:db8::2', port: 5353 }),
    says: ['deleteDestination: no such destination [2001:db8::2]:5353 in service UDP [2001:db8::1]:53'],
  },
  { name: 'EEXIST on addService', errno: EEXIST, code: 'EEXIST', operation: 'addService', call: (i) => i.addService({ ...svc, scheduler: 'rr' }), says: ['addService: service TCP 10.0.0.1:80 already exists'] },
  {
    name: 'EEXIST on addDestination',
    errno: EEXIST,
    code: 'EEXIST',
    operation: 'addDestination',
    call: (i) => i.addDestination(svc, real),
    says: ['addDestination: destination 10.0.1.1:80 already exists in service TCP 10.0.0.1:80'],
  },
  {
    name: 'EEXIST on startDaemon',
    errno: EEXIST,
    code: 'EEXIST',
    operation: 'startDaemon',
    call: (i) => i.startDaemon({ state: 'master', interface: 'eth0' }),
    says: ['startDaemon: sync daemon master is already running'],
  },
  { name: 'ESRCH on stopDaemon', errno: ESRCH, code: 'ESRCH', operation: 'stopDaemon', call: (i) => i.stopDaemon('backup'), says: ['stopDaemon: no sync daemon backup is running'] },
  {
    name: 'ENODEV on startDaemon names the interface',
    errno: ENODEV,
    code: 'ENODEV',
    operation: 'startDaemon',
    call: (i) => i.startDaemon({ state: 'backup', interface: 'eth9' }),
    says: ['startDaemon', 'no such network interface "eth9"'],
  },
];

describe('IpvsError mapping over a fake kernel', () => {
  for (const c of CASES) {
    for (const extack of [undefined, 'Attribute failed policy validation']) {
      it(`${c.name}${extack ? ' (with an extended ACK)' : ''}`, async () => {
        const { ipvs, kernel } = await failing(c.errno, extack);
        const e = await rejection(c.call(ipvs));
        expect(e.errno).toBe(c.errno);
        expect(e.code).toBe(c.code);
        expect(e.operation).toBe(c.operation);
        for (const s of c.says) expect(e.message).toContain(s);
        if (extack) {
          expect(e.message.endsWith(` (kernel: ${extack})`)).toBe(true);
          expect(e.extack?.message).toBe(extack);
        } else {
          expect(e.message).not.toContain('(kernel:');
          expect(e.extack).toBeUndefined();
        }
        expect(e.cause).toBeInstanceOf(NetlinkError);
        expect(kernel.ipvsRequests.length).toBeGreaterThanOrEqual(1);
      });
    }
  }

  it('the object the operation concerned is kept', async () => {
    const { ipvs } = await failing(EEXIST);
    expect((await rejection(ipvs.addService({ ...svc, scheduler: 'rr' }))).object).toBe('service TCP 10.0.0.1:80');
    expect((await rejection(ipvs.addDestination(svc, real))).object).toBe('destination 10.0.1.1:80');
  });
});

describe('Ipvs.open when the IPVS family is missing', () => {
  for (const extack of [undefined, 'Family not found']) {
    it(`rejects with ENOENT saying the ip_vs module is not loaded and how to load it${extack ? ' (with an extended ACK)' : ''}`, async () => {
      // The controller answers CTRL_CMD_GETFAMILY for an unknown name with ENOENT.
      const { factory } = fakeSocketFactory((req, k) => k.ack(req, -ENOENT, extack));
      const e = await rejection(Ipvs.open({ socketFactory: factory }));
      expect(e.errno).toBe(ENOENT);
      expect(e.code).toBe('ENOENT');
      expect(e.operation).toBe('open');
      expect(e.message).toContain('ip_vs');
      expect(e.message).toContain('not loaded');
      expect(e.message).toContain('modprobe ip_vs');
      if (extack) expect(e.message.endsWith(` (kernel: ${extack})`)).toBe(true);
    });
  }

  it('closes its socket', async () => {
    const kernel = fakeIpvsKernel(undefined, { missingFamily: true });
    await rejection(Ipvs.open({ socketFactory: kernel.factory }));
    expect(kernel.sockets).toHaveLength(1);
    expect(kernel.sockets[0]!.fd).toBe(-1);
  });
});

describe('IpvsError from the real kernel\'s error replies (rep-*.hex)', () => {
  const errnoOf = (name: string): number => {
    const m = capturedReply(name).datagrams.flatMap((d) => parseMessages(d))[0]!;
    return -parseErrorMessage(m).error;
  };

  it('the captured errors are what the kernel code says', () => {
    expect(errnoOf('new-service-eexist')).toBe(EEXIST);
    expect(errnoOf('new-service-enoent')).toBe(ENOENT);
    expect(errnoOf('get-service-esrch')).toBe(ESRCH);
    expect(errnoOf('new-dest-eexist')).toBe(EEXIST);
    expect(errnoOf('new-dest-esrch')).toBe(ESRCH);
    expect(errnoOf('del-dest-enoent')).toBe(ENOENT);
    expect(errnoOf('new-daemon-einval-mixed-family')).toBe(EINVAL);
  });

  const cases: [string, (i: Ipvs) => Promise<unknown>, number, string[]][] = [
    ['addService of an existing service', (i) => i.addService({ protocol: 'tcp', address: '192.0.2.10', port: 80, scheduler: 'rr' }), EEXIST, ['addService: service TCP 192.0.2.10:80 already exists']],
    ['addService with an unknown scheduler', (i) => i.addService({ protocol: 'tcp', address: '192.0.2.201', port: 80, scheduler: 'nosuchsched' }), ENOENT, ['scheduler "nosuchsched"', 'ip_vs_nosuchsched']],
    ['getService of a missing service', (i) => i.getService({ protocol: 'tcp', address: '192.0.2.200', port: 80 }), ESRCH, ['getService: no such service TCP 192.0.2.200:80']],
    ['addDestination of an existing destination', (i) => i.addDestination({ protocol: 'tcp', address: '192.0.2.10', port: 80 }, { address: '192.0.2.20', forward: 'route' }), EEXIST, ['destination 192.0.2.20:80 already exists in service TCP 192.0.2.10:80']],
    ['addDestination to a missing service', (i) => i.addDestination({ protocol: 'tcp', address: '192.0.2.200', port: 80 }, { address: '10.0.0.250', forward: 'route' }), ESRCH, ['no such service TCP 192.0.2.200:80']],
    ['deleteDestination of a missing destination', (i) => i.deleteDestination({ protocol: 'tcp', address: '192.0.2.10', port: 80 }, { address: '10.0.0.250' }), ENOENT, ['no such destination 10.0.0.250:80 in service TCP 192.0.2.10:80']],
    // The kernel refuses sync daemons while any mixed-family destination exists.
    ['startDaemon while a mixed-family destination exists', (i) => i.startDaemon({ state: 'master', interface: 'lan0', syncId: 7 }), EINVAL, ['startDaemon', 'EINVAL']],
  ];
  for (const [name, call, errno, says] of cases) {
    it(name, async () => {
      const kernel = replayKernel();
      const ipvs = await Ipvs.open({ socketFactory: kernel.factory });
      clients.push(ipvs);
      const e = await rejection(call(ipvs));
      expect(e.errno).toBe(errno);
      for (const s of says) expect(e.message).toContain(s);
      expect(kernel.unmatched).toEqual([]);
    });
  }
});
