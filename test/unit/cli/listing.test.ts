// formatListing against what the real ipvsadm printed for a captured table
// (test/fixtures/ipvs: replies and `ipvsadm -Ln --stats --exact` captured
// together), and print_largenum's K/M/G/T rule at its boundaries.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Ipvs } from '../../../src/ipvs/client.js';
import { formatLargeNumber, formatListing, formatListingBytes, type ListingView } from '../../../src/ipvs/listing.js';
import { FIXTURE_DIR, replayKernel } from '../../fixtures/ipvs/fixtures.js';

let clients: Ipvs[] = [];
afterEach(async () => {
  for (const c of clients) await c.close();
  clients = [];
});

describe('formatListing', () => {
  it('prints the captured table exactly as ipvsadm -Ln --stats --exact did', async () => {
    const kernel = replayKernel();
    const ipvs = await Ipvs.open({ socketFactory: kernel.factory });
    clients.push(ipvs);
    const [info, table] = await Promise.all([ipvs.info(), ipvs.table()]);
    const captured = readFileSync(`${FIXTURE_DIR}ipvsadm-Ln.txt`, 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('#') && !l.startsWith('Timeout'))
      .join('\n');
    expect(formatListing(info, table, { view: 'stats', exact: true })).toBe(captured);
    expect(kernel.unmatched).toEqual([]);
  });

  it('formatListingBytes gives the same text as UTF-8 bytes, in every view', async () => {
    const kernel = replayKernel();
    const ipvs = await Ipvs.open({ socketFactory: kernel.factory });
    clients.push(ipvs);
    const [info, table] = await Promise.all([ipvs.info(), ipvs.table()]);
    const views: ListingView[] = ['default', 'stats', 'rate', 'thresholds', 'persistent-conn', 'tun-info'];
    for (const view of views) {
      for (const options of [{ view }, { view, exact: true, sort: false }]) {
        const bytes = formatListingBytes(info, table, options);
        expect(bytes.equals(Buffer.from(formatListing(info, table, options), 'utf8')), view).toBe(true);
      }
    }
  });

  it('the kernel order with sort: false (ipvsadm --nosort), sorted otherwise', async () => {
    const kernel = replayKernel();
    const ipvs = await Ipvs.open({ socketFactory: kernel.factory });
    clients.push(ipvs);
    const [info, table] = await Promise.all([ipvs.info(), ipvs.table()]);
    const heads = (text: string) => text.split('\n').filter((l) => /^(TCP|UDP|SCTP|FWM) /.test(l));
    const unsorted = heads(formatListing(info, table, { sort: false }));
    const sorted = heads(formatListing(info, table));
    expect(unsorted.map((l) => l.split(' ').filter(Boolean)[1])).toEqual(table.map((e) => ('fwmark' in e.service ? String(e.service.fwmark) : `${e.service.family === 'ipv6' ? `[${e.service.address}]` : e.service.address}:${e.service.port}`)));
    expect([...unsorted].sort()).toEqual([...sorted].sort());
  });
});

describe('formatLargeNumber (ipvsadm print_largenum)', () => {
  it('nine columns up to 10^8 - 1, then K, M, G, T with eight digits', () => {
    expect(formatLargeNumber(0n)).toBe('        0');
    expect(formatLargeNumber(99999999n)).toBe(' 99999999');
    expect(formatLargeNumber(100000000n)).toBe('  100000K');
    expect(formatLargeNumber(999999999n)).toBe('  999999K');
    expect(formatLargeNumber(1000000000n)).toBe('    1000M');
    expect(formatLargeNumber(99999999999n)).toBe('   99999M');
    expect(formatLargeNumber(100000000000n)).toBe('     100G');
    expect(formatLargeNumber(100000000000000n)).toBe('     100T');
    expect(formatLargeNumber(2n ** 64n - 1n)).toBe('18446744T');
  });

  it('exact: the whole number, at least nine columns, one space before longer ones', () => {
    expect(formatLargeNumber(12345n, true)).toBe('    12345');
    expect(formatLargeNumber(123456789n, true)).toBe(' 123456789');
    expect(formatLargeNumber(2n ** 64n - 1n, true)).toBe(' 18446744073709551615');
  });

  it('rates given as numbers are truncated like the kernel u64 fields', () => {
    expect(formatLargeNumber(42.9)).toBe('       42');
  });
});
