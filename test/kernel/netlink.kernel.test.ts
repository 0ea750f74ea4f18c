// The netlink layer against the real kernel: family resolution, ACKs, kernel
// errors, dumps over many datagrams, many concurrent requests on one socket,
// aborts, closing with requests pending, ENOBUFS recovery, and sockets opened
// in another network namespace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, ConnectionClosedError, NetlinkError, RepliesLostError } from '../../src/errors.js';
import { GenlConn, type GenlFamily } from '../../src/netlink/genl.js';
import { NLM_F_DUMP, GENL_ID_CTRL, CTRL_CMD_GETFAMILY } from '../../src/netlink/constants.js';
import { encodeAttributes } from '../../src/netlink/schema.js';
import { commandTable } from '../../src/ipvs/attributes.js';
import * as C from '../../src/ipvs/constants.js';
import { createNetns, type Netns } from './harness.js';

const svcAttrs = (i: number) => ({
  af: C.AF_INET,
  protocol: C.IPPROTO_TCP,
  address: new Uint8Array([10, 9, (i >> 8) & 0xff, i & 0xff]),
  port: 80,
  scheduler: 'rr',
  flags: new Uint8Array([0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
  timeout: 0,
  netmask: new Uint8Array([0xff, 0xff, 0xff, 0xff]),
});

describe('netlink layer on the real kernel', () => {
  let ns: Netns;
  let other: Netns;
  let genl: GenlConn;
  let ipvs: GenlFamily;

  const addService = (g: GenlConn, i: number, opts = {}) =>
    g.request(ipvs.id, C.IPVS_CMD_NEW_SERVICE, 1, 0, (w) => encodeAttributes(w, commandTable, { service: svcAttrs(i) }), opts);
  const dumpServices = (g: GenlConn, opts = {}) =>
    g.request(ipvs.id, C.IPVS_CMD_GET_SERVICE, 1, NLM_F_DUMP, () => {}, opts);
  const flush = (g: GenlConn) => g.request(ipvs.id, C.IPVS_CMD_FLUSH, 1, 0, () => {});

  beforeAll(async () => {
    ns = createNetns('nl');
    other = createNetns('nl-other');
    genl = GenlConn.open({ netns: ns.path });
    ipvs = await genl.family('IPVS');
  });
  afterAll(() => {
    genl?.close();
    ns?.destroy();
    other?.destroy();
  });

  it('resolves the IPVS family through the controller', () => {
    expect(ipvs.name).toBe('IPVS');
    expect(ipvs.id).toBeGreaterThanOrEqual(0x10);
    expect(ipvs.version).toBe(1);
    expect(ipvs.maxAttribute).toBe(6);
    const ids = ipvs.ops.map((o) => o.id).sort((a, b) => a - b);
    expect(ids).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17]);
    // Every IPVS op needs CAP_NET_ADMIN (GENL_ADMIN_PERM).
    expect(ipvs.ops.every((o) => (o.flags & 1) === 1)).toBe(true);
  });

  it('rejects an unknown family with ENOENT', async () => {
    await expect(genl.family('NO_SUCH_FAM')).rejects.toMatchObject({ code: 'ENOENT', errno: 2 });
  });

  it('resolves an ACKed request and the change is visible to ipvsadm', async () => {
    const replies = await addService(genl, 1);
    expect(replies).toEqual([]);
    expect(ns.ipvsadm('-Sn')).toBe('-A -t 10.9.0.1:80 -s rr\n');
    await flush(genl);
    expect(ns.ipvsadm('-Sn')).toBe('');
  });

  it('turns a kernel error into a NetlinkError with errno and code', async () => {
    await addService(genl, 2);
    const err = await addService(genl, 2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetlinkError);
    expect(err).toMatchObject({ errno: 17, code: 'EEXIST' });
    await flush(genl);
  });

  it('carries the kernel extended-ACK text when the kernel gives one', async () => {
    // A family name longer than the controller's policy allows fails policy
    // validation, which the kernel reports with an extack message.
    const err = (await genl
      .request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, 0, (w) => w.attrString(2, 'X'.repeat(40)))
      .catch((e: unknown) => e)) as NetlinkError;
    expect(err).toBeInstanceOf(NetlinkError);
    expect(err.code).toBe('EINVAL');
    expect(err.extack?.message).toMatch(/\S/);
    expect(err.message).toContain(err.extack!.message!);
  });

  it('reads a dump larger than one receive buffer', async () => {
    const n = 1500;
    await Promise.all(Array.from({ length: n }, (_, i) => addService(genl, i + 1)));
    const before = genl.conn.stats.datagrams;
    const parts = await dumpServices(genl);
    expect(parts).toHaveLength(n);
    // The kernel sizes dump datagrams at 32 KiB at most; this one needed several.
    expect(genl.conn.stats.datagrams - before).toBeGreaterThan(3);
    const listed = ns.ipvsadm('-Sn').trim().split('\n');
    expect(listed).toHaveLength(n);
    await flush(genl);
  });

  it('answers 200 concurrent requests on one socket, each with its own reply', async () => {
    const sentBefore = genl.conn.stats.sends;
    await Promise.all(Array.from({ length: 200 }, (_, i) => addService(genl, i + 1)));
    // Batched: far fewer send() calls than requests.
    expect(genl.conn.stats.sends - sentBefore).toBeLessThan(20);
    const gets = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        genl.request(ipvs.id, C.IPVS_CMD_GET_SERVICE, 1, 0, (w) =>
          encodeAttributes(w, commandTable, { service: { af: C.AF_INET, protocol: C.IPPROTO_TCP, address: svcAttrs(i + 1).address, port: 80 } }),
        ),
      ),
    );
    gets.forEach((replies, i) => {
      expect(replies).toHaveLength(1);
      const payload = replies[0]!.message.payload;
      // The reply's service address is the one this request asked for.
      const addr = svcAttrs(i + 1).address;
      expect(payload.includes(Buffer.from(addr))).toBe(true);
    });
    expect(ns.ipvsadm('-Sn').trim().split('\n')).toHaveLength(200);
    await flush(genl);
  });

  it('rejects a request aborted mid-flight and keeps working', async () => {
    // Large enough that the dump spans more datagrams than are read straight after the send.
    await Promise.all(Array.from({ length: 1500 }, (_, i) => addService(genl, i + 1)));
    const ac = new AbortController();
    const dump = dumpServices(genl, { signal: ac.signal });
    setImmediate(() => ac.abort());
    await expect(dump).rejects.toBeInstanceOf(AbortError);
    // The aborted dump is drained; the next dump is complete.
    const again = await dumpServices(genl);
    expect(again).toHaveLength(1500);
    await flush(genl);
  });

  it('opens a socket in another namespace that sees only that namespace', async () => {
    other.ipvsadm('-A', '-u', '10.8.8.8:53', '-s', 'wrr');
    const g2 = GenlConn.open({ netns: other.path });
    try {
      const fam = await g2.family('IPVS');
      const there = await g2.request(fam.id, C.IPVS_CMD_GET_SERVICE, 1, NLM_F_DUMP, () => {});
      expect(there).toHaveLength(1);
      const here = await dumpServices(genl);
      expect(here).toHaveLength(0);
      await g2.request(fam.id, C.IPVS_CMD_FLUSH, 1, 0, () => {});
      expect(other.ipvsadm('-Sn')).toBe('');
    } finally {
      g2.close();
    }
  });

  it('rejects pending requests when closed', async () => {
    const g3 = GenlConn.open({ netns: ns.path });
    const fam = await g3.family('IPVS');
    const pending = Array.from({ length: 50 }, (_, i) =>
      g3.request(fam.id, C.IPVS_CMD_NEW_SERVICE, 1, 0, (w) => encodeAttributes(w, commandTable, { service: svcAttrs(i + 1) })),
    );
    g3.close();
    const results = await Promise.allSettled(pending);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ConnectionClosedError);
    }
    await expect(g3.family('IPVS')).resolves.toBeDefined(); // cached, no I/O
    await expect(g3.request(fam.id, C.IPVS_CMD_FLUSH, 1, 0, () => {})).rejects.toBeInstanceOf(ConnectionClosedError);
    await flush(genl);
  });

  it('recovers from ENOBUFS when replies overflow the receive buffer', async () => {
    // A tiny receive buffer and no in-flight limit: the kernel must drop ACKs.
    const g4 = GenlConn.open({ netns: ns.path, receiveBufferBytes: 4096, maxInFlight: 100_000 });
    try {
      const fam = await g4.family('IPVS');
      const results = await Promise.allSettled(
        Array.from({ length: 3000 }, (_, i) =>
          g4.request(fam.id, C.IPVS_CMD_NEW_SERVICE, 1, 0, (w) => encodeAttributes(w, commandTable, { service: svcAttrs(i + 1) })),
        ),
      );
      const lost = results.filter((r) => r.status === 'rejected');
      expect(lost.length).toBeGreaterThan(0);
      for (const r of lost) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(RepliesLostError);
      expect(g4.conn.stats.reopened).toBeGreaterThanOrEqual(1);
      // The connection works again afterwards.
      const parts = await g4.request(fam.id, C.IPVS_CMD_GET_SERVICE, 1, NLM_F_DUMP, () => {});
      expect(parts.length).toBe(ns.ipvsadm('-Sn').trim().split('\n').length);
    } finally {
      g4.close();
      await flush(genl);
    }
  });
});
