/**
 * The dropped-packets scenario's rule outlives a run killed while it drops; the stack's global
 * setup removes it (clearDroppedPackets), or every later run finds PostgreSQL unreachable.
 */
import net from 'node:net';
import { clearDroppedPackets, dropPackets } from '../support/blackhole';

function connects(port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(ms, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The rule's class lets a burst of a few packets through before it drops; a connection or two
 * use it up. */
async function blocked(port: number): Promise<boolean> {
  for (let i = 0; i < 3; i++) if (!(await connects(port, 1000))) return true;
  return false;
}

test('a rule left in place by a killed run is found by its port and removed; a new one can be installed', async () => {
  const server = net.createServer((s) => s.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    expect(await connects(port, 2000)).toBe(true);
    dropPackets(port); // the undo never runs, as in a killed run
    expect(await blocked(port)).toBe(true);
    const undo = dropPackets(port); // installs over the leftover
    expect(await blocked(port)).toBe(true);
    undo();
    expect(await connects(port, 2000)).toBe(true);
    dropPackets(port);
    expect(clearDroppedPackets()).toEqual([port]);
    expect(await connects(port, 2000)).toBe(true);
    expect(clearDroppedPackets()).toEqual([]);
  } finally {
    clearDroppedPackets();
    await new Promise((resolve) => server.close(resolve));
  }
});
