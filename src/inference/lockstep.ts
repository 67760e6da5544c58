import type { LlamaContextSequence } from "node-llama-cpp";

type AfterBatch = (sequenceStateLength: number) => unknown;

/**
 * Makes a sequence take its step in the same decode as the context's other generating sequences (a hook
 * into node-llama-cpp 3.21's internals).
 *
 * After a decode, node-llama-cpp's dispatch loop starts the next one as soon as the step's sampling
 * resolves, before the sequences that just got a token have queued their next one. Those miss the step,
 * and from then on the streams stay out of phase: two streams never shared a decode (BENCHMARKS.md). The
 * loop awaits each sequence's after-batch action (an interval checkpoint, a no-op for most models);
 * waiting one more event-loop turn there lets every sequence queue its token first.
 *
 * Returns false, changing nothing, when that internal is not there.
 */
export function decodeInLockstep(sequence: LlamaContextSequence): boolean {
  const key = "_takeIntervalCheckpointIfNeededAfterBatch";
  const holder = sequence as unknown as Record<string, unknown>;
  const original = holder[key];
  // node-llama-cpp binds it per sequence in the constructor and passes that own property to the loop.
  if (typeof original !== "function" || !Object.hasOwn(holder, key)) return false;
  const afterBatch = original as AfterBatch;
  const nextTurn = () =>
    new Promise<void>((resolve) => {
      setImmediate(resolve);
    });
  holder[key] = (length: number) => {
    const result = afterBatch(length);
    return result instanceof Promise ? result.then(nextTurn) : nextTurn();
  };
  return true;
}
