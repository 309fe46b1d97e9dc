/**
 * Dropped packets, for real: traffic control on the loopback interface sends every packet to or
 * from one port into an HTB class of 8 bit/s with a one-packet queue, so the kernel drops nearly
 * all of them — no RST, no answer, what a network partition does (unlike a refused connection).
 * Needs root (CAP_NET_ADMIN) and the kernel's htb qdisc; iptables and netem are not on every
 * machine (not on the reference one), htb is.
 *
 * A run killed while it drops (SIGKILL, a machine stopped mid-run) leaves the rule in place, and the
 * port then answers nothing until it is removed: a later `idem stack up` saw PostgreSQL log "ready"
 * and still could not connect for 15 minutes. The stack's global setup and `dropPackets` itself
 * remove such a leftover first (`clearDroppedPackets`).
 */
import { spawnSync } from 'node:child_process';

function tc(args: string): { ok: boolean; out: string } {
  const r = spawnSync('tc', args.split(' '), { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** Starts dropping; returns the undo. Throws, saying why, where traffic control is not allowed. */
export function dropPackets(port: number): () => void {
  clearDroppedPackets();
  const steps = [
    'qdisc add dev lo root handle 1: htb default 10',
    'class add dev lo parent 1: classid 1:10 htb rate 10gbit',
    'class add dev lo parent 1: classid 1:20 htb rate 8bit ceil 8bit',
    'qdisc add dev lo parent 1:20 handle 20: pfifo limit 1',
    `filter add dev lo parent 1: protocol ip prio 1 u32 match ip dport ${port} 0xffff flowid 1:20`,
    `filter add dev lo parent 1: protocol ip prio 1 u32 match ip sport ${port} 0xffff flowid 1:20`,
  ];
  const undo = () => void tc('qdisc del dev lo root');
  for (const step of steps) {
    const r = tc(step);
    if (!r.ok) {
      undo();
      throw new Error(
        `cannot drop packets with traffic control (tc ${step}): ${r.out.trim()}. ` +
          'This scenario needs root (CAP_NET_ADMIN) and the htb qdisc.',
      );
    }
  }
  return undo;
}

/**
 * Removes this module's rule if one is in place (recognised by its 8 bit/s class 1:20 on `lo`),
 * and returns the ports it dropped; nothing else on `lo` is touched. Without `tc` or root: none.
 */
export function clearDroppedPackets(): number[] {
  const classes = tc('class show dev lo');
  if (!classes.ok || !/class htb 1:20 .*rate 8bit/.test(classes.out)) return [];
  const filters = tc('filter show dev lo').out;
  const ports = [...filters.matchAll(/match ([0-9a-f]{8})\/(0000ffff|ffff0000) at 20/g)].map((m) => {
    const word = parseInt(m[1] as string, 16);
    return m[2] === '0000ffff' ? word & 0xffff : word >>> 16;
  });
  tc('qdisc del dev lo root');
  return [...new Set(ports)];
}
