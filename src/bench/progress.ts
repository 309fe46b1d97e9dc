/** Progress of a scenario: one line that updates on a terminal, a line every 5 s in logs. */
export function progressLine(
  label: string,
  out: (line: string) => void,
): (done: number, total: number) => void {
  const began = Date.now();
  let last = 0;
  let finished = false;
  const tty = process.stderr.isTTY;
  return (done, total) => {
    const now = Date.now();
    if (finished || (now - last < (tty ? 500 : 5000) && done < total)) return;
    last = now;
    finished = done >= total;
    const pct = total > 0 ? Math.floor((100 * done) / total) : 0;
    const bar = '█'.repeat(Math.floor(pct / 5)).padEnd(20, '░');
    const line = `  ${bar} ${done}/${total} ${label} (${Math.round((now - began) / 1000)} s)`;
    if (tty) process.stderr.write(`\r${line}${done >= total ? '\n' : ''}`);
    else out(line);
  };
}
