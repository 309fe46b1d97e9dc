/**
 * Dropped packets, for real: traffic control on the loopback interface sends every packet to or
 * from one port into an HTB class of 8 bit/s with a one-packet queue, so the kernel drops nearly
 * all of them — no RST, no answer, what a network partition does (unlike a refused connection).
 * Needs root (CAP_NET_ADMIN) and the kernel's htb qdisc; iptables and netem are not on every
 * machine (not on the reference one), htb is.
 */
import { spawnSync } from 'node:child_process';

function tc(args: string): { ok: boolean; out: string } {
  const r = spawnSync('tc', args.split(' '), { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** Starts dropping; returns the undo. Throws, saying why, where traffic control is not allowed. */
export function dropPackets(port: number): () => void {
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
