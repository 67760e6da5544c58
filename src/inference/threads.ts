/**
 * How many CPU threads llama.cpp gets when the config leaves it to us (threads = 0), and whether the
 * count follows each batch (batch-threads.ts).
 *
 * Measured on 2 cores (BENCHMARKS.md): thread hand-off costs more than it saves when a decode step is
 * small. For small models every step is small: one thread. For larger ones a prompt or several streams
 * decoding together use every core, while a step of one stream's single token runs on one thread.
 */
export function chooseThreads(opts: { configured: number; embedding: number; cpus: number }): {
  threads: number;
  followBatch: boolean;
} {
  if (opts.configured > 0) return { threads: opts.configured, followBatch: false };
  if (opts.embedding < 512 || opts.cpus === 1) return { threads: 1, followBatch: false };
  return { threads: opts.cpus, followBatch: true };
}
