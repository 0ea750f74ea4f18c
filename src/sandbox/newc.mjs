// Writes a cpio archive in the "newc" format, which the Linux kernel unpacks
// as an initramfs (format: the kernel's Documentation/driver-api/early-userspace/
// buffer-format.rst; magic 070701, 13 eight-digit hex fields, name and data
// each padded to a multiple of 4 bytes, ended by an entry named TRAILER!!!).

const pad4 = (n) => (4 - (n % 4)) % 4;

/**
 * @param {{ name: string, type: 'dir'|'file'|'symlink', mode?: number, data?: Buffer|string, target?: string }[]} entries
 * @returns {Buffer}
 */
export function newcArchive(entries) {
  const parts = [];
  let ino = 1;
  const add = (name, mode, data, nlink) => {
    const nameBuf = Buffer.from(`${name}\0`);
    const fields = [ino++, mode, 0, 0, nlink, 0, data.length, 0, 0, 0, 0, nameBuf.length, 0];
    const header = `070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`;
    parts.push(Buffer.from(header, 'ascii'), nameBuf, Buffer.alloc(pad4(header.length + nameBuf.length)));
    parts.push(data, Buffer.alloc(pad4(data.length)));
  };
  for (const e of entries) {
    const name = e.name.replace(/^\/+/, '');
    if (!name) throw new Error('newc entry without a name');
    if (e.type === 'dir') add(name, 0o040000 | (e.mode ?? 0o755), Buffer.alloc(0), 2);
    else if (e.type === 'symlink') add(name, 0o120000 | 0o777, Buffer.from(e.target ?? ''), 1);
    else if (e.type === 'file') add(name, 0o100000 | (e.mode ?? 0o644), Buffer.from(e.data ?? ''), 1);
    else throw new Error(`newc entry ${name}: unknown type ${e.type}`);
  }
  add('TRAILER!!!', 0, Buffer.alloc(0), 1);
  return Buffer.concat(parts);
}
