import { afterEach, describe, expect, it } from 'vitest';
import { read, write, readSync, writeSync, threadpool } from '../lib/index';
import { closeAll, tcpPair } from './helpers/pairs';

afterEach(closeAll);

describe('smoke', () => {
  it('round-trips bytes over a TCP pair, sync and async', async () => {
    const { client, server } = tcpPair('ipv4');
    expect(writeSync(client, Buffer.from('ping'))).toBe(4);
    const buf = Buffer.alloc(16);
    expect(readSync(server, buf)).toBe(4);
    expect(buf.toString('utf8', 0, 4)).toBe('ping');
    const pending = read(client, buf);
    expect(await write(server, Buffer.from('pong'))).toBe(4);
    expect(await pending).toBe(4);
    expect(buf.toString('utf8', 0, 4)).toBe('pong');
    expect(threadpool().busy).toBe(0);
  });
});
