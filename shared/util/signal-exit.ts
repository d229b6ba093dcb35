// Ending the process for a signal the way the operating system would, safe while onnxruntime is running.

/**
 * Raises `signal` again with its default action, so the process ends at once with the status a
 * shell reports for it (130 for SIGINT, 143 for SIGTERM). Unlike `process.exit`, nothing is torn
 * down first: exiting while onnxruntime runs (on the main thread or a worker) can abort the process
 * with a native exception. SQLite keeps every committed transaction.
 */
export function endBySignal(signal: NodeJS.Signals): void {
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
}

/** The exit status a shell reports for a process ended by `signal`: 130 for SIGINT, 143 for SIGTERM. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 130 : 143;
}
