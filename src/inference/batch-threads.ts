import type { LlamaContext } from "node-llama-cpp";

interface NativeContext {
  initBatch: (this: object, size: number) => void;
  setThreads: (this: object, threads: number) => void;
}

/**
 * Lets llama.cpp's thread count follow each batch: a decode step of one token (one stream generating)
 * runs on one thread, where thread hand-off costs more than it saves; a batch of several tokens (a
 * prompt, or several streams decoding together) runs on all the context's threads (see BENCHMARKS.md).
 *
 * node-llama-cpp sets a context's threads before every decode but only per context, so this wraps its
 * native context (`_ctx`, node-llama-cpp 3.21): initBatch(size) is called before setThreads(n) for each
 * decode. Returns false, changing nothing, when those internals are not there.
 */
export function threadsFollowBatch(context: LlamaContext): boolean {
  const holder = context as unknown as { _ctx?: Partial<NativeContext> & object };
  const native = holder._ctx;
  if (typeof native?.initBatch !== "function" || typeof native.setThreads !== "function") return false;
  const { initBatch, setThreads } = native as NativeContext;
  let batchSize = 0;
  // The addon's methods are read-only, so the context gets a proxy that forwards everything else.
  holder._ctx = new Proxy(native, {
    get(target, prop) {
      if (prop === "initBatch") {
        return (size: number) => {
          batchSize = size;
          initBatch.call(target, size);
        };
      }
      if (prop === "setThreads") {
        return (threads: number) => {
          setThreads.call(target, batchSize <= 1 ? 1 : threads);
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return true;
}
