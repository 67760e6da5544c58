import type {
  CustomBatchingPrioritizationStrategy,
  EvaluationPriority,
  LlamaContextSequence,
  PrioritizedBatchItem,
} from "node-llama-cpp";

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

/**
 * The order llama.cpp needs to decode a step in one pass. With a KV cache per sequence (node-llama-cpp's
 * contexts do not unify it), llama.cpp puts sequences into one micro-batch only while their ids follow each
 * other in the batch (llama_batch_allocr::split_equal); out of order, the same step becomes one graph
 * computation per sequence. node-llama-cpp batches in the order sequences queued, so this strategy sorts
 * by the slot id the engine passes as each generation's evaluation priority (only batching strategies
 * read that field), then shares the batch as node-llama-cpp's default does: every item gets an equal
 * share, and what is left goes to the longer ones (prompts) in order.
 */
export const inSlotOrder: CustomBatchingPrioritizationStrategy = ({ items, size }) => {
  const sorted = [...items].sort((a, b) => a.evaluationPriority - b.evaluationPriority);
  const share = Math.max(1, Math.floor(size / Math.max(1, sorted.length)));
  let left = size;
  const out: PrioritizedBatchItem[] = [];
  for (const item of sorted) {
    const processAmount = Math.min(item.tokens.length, share, left);
    if (processAmount <= 0) break;
    out.push({ item, processAmount });
    left -= processAmount;
  }
  for (const p of out) {
    const more = Math.min(p.item.tokens.length - p.processAmount, left);
    p.processAmount += more;
    left -= more;
  }
  return out;
};

/** A slot id as the evaluation priority inSlotOrder sorts by. */
export function slotOrder(slotId: number): EvaluationPriority {
  return (slotId + 1) as EvaluationPriority;
}
