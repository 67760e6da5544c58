/**
 * How many CPU threads llama.cpp gets when the config leaves it to us (threads = 0).
 *
 * Measured on 2 cores (BENCHMARKS.md): thread start-up and synchronisation cost more than they save when
 * a decode step is small, i.e. for small models or a single stream; a batched decode of a real model
 * has enough work per step to use every core. So: one thread for small models or one slot, otherwise
 * all cores.
 */
export function chooseThreads(opts: {
  configured: number;
  parallel: number;
  embedding: number;
  cpus: number;
}): number {
  if (opts.configured > 0) return opts.configured;
  const smallModel = opts.embedding < 512;
  if (smallModel || opts.parallel === 1) return 1;
  return Math.max(1, opts.cpus);
}
