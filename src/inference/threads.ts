/**
 * How many CPU threads llama.cpp gets when the config leaves it to us (threads = 0).
 *
 * Small models (embedding < 512, e.g. the `tiny` test fixture) run every step on one thread: their steps
 * are so small that hand-off between threads costs more than it saves. Larger ones use every core, for
 * single-token steps too (BENCHMARKS.md, "Engine speed").
 */
export function chooseThreads(opts: { configured: number; embedding: number; cpus: number }): number {
  if (opts.configured > 0) return opts.configured;
  if (opts.embedding < 512) return 1;
  return opts.cpus;
}
