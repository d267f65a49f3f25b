// Whether a process id names a running process on this host (signal 0: nothing is sent). EPERM means it runs
// under another user. Used for locks and files named after the process that wrote them.
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
