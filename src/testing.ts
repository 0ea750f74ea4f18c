/**
 * Test helpers for code built on ipvs-ts: a fake netlink socket whose "kernel"
 * is a function you write. Use it for unit tests of protocol logic; prove
 * kernel behaviour against a real kernel.
 *
 * ```ts
 * import { fakeSocketFactory } from 'ipvs-ts/testing';
 * ```
 * @module
 */
export { FakeSocket, fakeSocketFactory, buildMessage, type FakeHandler, type FakeKernel } from './netlink/fake-socket.js';
export { Writer } from './netlink/writer.js';
export { parseMessages, type NetlinkMessage } from './netlink/message.js';
