import { randomBytes } from "node:crypto";
import { stringify } from "yaml";
import { ModelConditionType, PoolConditionType } from "../../api/conditions.js";
import { MODEL_LABEL, POOL_LABEL, TIER_LABEL } from "../../api/labels.js";
import { SERVER_PORT } from "../../api/server.js";
import { instanceIdOf } from "../../operator/pools/driver.js";
import type { Kubectl } from "../../lib/kubectl.js";
import { postToPod } from "../../lib/pod-proxy.js";
import type { Cloud } from "./clouds.js";
import { poll, Steps, unreachable, type StepRecord } from "./steps.js";
import type { ModelFile, SmokePool, Target } from "./targets.js";

/**
 * One smoke run, the same steps on every target: a tiny InferenceModel whose one burst replica
 * (`replicas.burst.min: 1`) may only run on the cloud's BurstPool, so the operator asks the pool's group
 * for a node exactly as it does under load; wait until a node has joined with the replica on it and the
 * model is Ready; one chat completion through the API server's proxy; then delete the model and wait until
 * the operator has drained the node away again. A node the operator does not remove in time is removed
 * through the pool's driver, so a failed drain costs a failed run, never a forgotten instance.
 */

export interface SmokeOptions {
  cloud: Cloud;
  namespace: string;
  target: Target;
  log: (line: string) => void;
}

export interface SmokeReport {
  cloud: Cloud;
  runId: string;
  result: "passed" | "failed";
  error: string | null;
  steps: StepRecord[];
  durationSeconds: number;
  pool: { name: string; group: string; region: string; hourlyPriceUsd: number } | null;
  /** The spot node the smoke replica ran on; `joined`: it came up for this run (and was drained after it). */
  node: { name: string; instanceId: string | null; joined: boolean } | null;
  /** Node-hours the run held (from join to drained) times the pool's price. */
  estimatedCostUsd: number;
  /** With --keep: what was left running, and the command that removes it. */
  kept: { resources: string[]; remove: string } | null;
}

export type SmokeSummary = Omit<SmokeReport, "result" | "error" | "steps">;

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

interface NodeObject {
  metadata: { name: string; labels?: Record<string, string> };
  spec?: { providerID?: string };
  status?: { conditions?: Condition[] };
}

interface PodObject {
  metadata: { name: string; labels?: Record<string, string> };
  spec?: { nodeName?: string };
  status?: { conditions?: Condition[] };
}

const readyOf = (conditions: Condition[] | undefined) =>
  conditions?.find((c) => c.type === ModelConditionType.Ready);

/** `summary` reads what the run has done so far, so a failed run reports its pool, node and cost too. */
export function smoke(o: SmokeOptions): {
  summary: () => SmokeSummary;
  run: (steps: Steps) => Promise<void>;
} {
  const t0 = performance.now();
  const { target, namespace: ns } = o;
  const { kubectl, timeouts } = target;
  const runId = randomBytes(3).toString("hex");
  const name = `smoke-${runId}`;
  let pool: SmokePool | undefined;
  let node: SmokeReport["node"] = null;
  let joinedAt: number | undefined;
  let drainedAt: number | undefined;

  const summary = (): SmokeSummary => {
    const end = drainedAt ?? performance.now();
    const heldHours = joinedAt === undefined ? 0 : (end - joinedAt) / 3_600_000;
    const price = pool?.spec.hourlyPriceUsd ?? 0;
    return {
      cloud: o.cloud,
      runId,
      durationSeconds: Math.round((performance.now() - t0) / 100) / 10,
      pool: pool
        ? { name: pool.name, group: pool.spec.group, region: pool.spec.region, hourlyPriceUsd: price }
        : null,
      node,
      estimatedCostUsd: Number((heldHours * price).toFixed(6)),
      kept: null,
    };
  };
  return { summary, run };

  async function run(steps: Steps): Promise<void> {
    await steps.step(
      "preflight",
      () => target.preflight(),
      (d) => d,
    );
    pool = await steps.step(
      "pool",
      () => target.pool(steps, runId),
      (p) => `BurstPool ${p.name} over group ${p.spec.group}`,
    );
    const { name: poolName, spec } = pool;
    const before = new Set((await poolNodes(kubectl, poolName)).map((n) => n.metadata.name));

    // Registered before the model, so it runs after the model is gone (teardowns run newest first).
    steps.onTeardown(
      `spot node of ${poolName} drained`,
      () => drain(),
      (d) => d,
    );
    const model = await steps.step(
      "model",
      async () => {
        const file = await target.publish(steps, runId);
        steps.onTeardown(`InferenceModel ${ns}/${name}`, () =>
          kubectl(["delete", "im", name, "-n", ns, "--ignore-not-found", "--wait=true", "--timeout=120s"]),
        );
        await kubectl(["apply", "-f", "-"], stringify(inferenceModel(file)));
        // A model nobody reconciles never gets a status: that is a missing operator, not a failed model.
        await poll(
          async () => ((await conditions()).length ? true : undefined),
          timeouts.operatorMs,
          () =>
            unreachable(
              `no operator reconciled InferenceModel ${ns}/${name} within ${timeouts.operatorMs / 1000} s`,
              `install the chart watching namespace ${ns} (npm run demo does, for default)`,
            ),
        );
        return file;
      },
      (f) => `${f.shown ?? f.uri}, reconciled`,
    );

    const placed = await steps.step(
      "spot node",
      () =>
        poll(
          async () => {
            const pod = (await pods("burst")).find((p) => p.spec?.nodeName);
            if (!pod?.spec?.nodeName) return undefined;
            const n = await kubectl.json<NodeObject>(["get", "node", pod.spec.nodeName]);
            if (
              n.metadata.labels?.[POOL_LABEL] !== poolName ||
              readyOf(n.status?.conditions)?.status !== "True"
            )
              return undefined;
            return n;
          },
          timeouts.nodeMs,
          async () =>
            new Error(
              `no node of ${poolName} took the burst replica within ${timeouts.nodeMs / 1000} s: ${await whyNoNode()}`,
            ),
          2000,
        ),
      (n) => `${n.metadata.name}${before.has(n.metadata.name) ? " (already up before the run)" : " joined"}`,
    );
    node = {
      name: placed.metadata.name,
      instanceId: instanceIdOf(placed.spec?.providerID) ?? null,
      joined: !before.has(placed.metadata.name),
    };
    if (node.joined) joinedAt = performance.now();

    await steps.step(
      "model ready",
      () =>
        poll(
          // The model is Ready with any replica ready; the one that will answer must be too.
          async () =>
            readyOf(await conditions())?.status === "True" && (await readyPod("burst")) ? true : undefined,
          timeouts.readyMs,
          async () => {
            const ready = readyOf(await conditions().catch(() => []));
            if (ready?.status === "True")
              return new Error(`no burst replica Ready within ${timeouts.readyMs / 1000} s`);
            return new Error(
              `not Ready within ${timeouts.readyMs / 1000} s: ${ready?.reason ?? "?"}: ${ready?.message ?? ""}`,
            );
          },
          2000,
        ),
      () => model.shown ?? model.uri,
    );

    await steps.step(
      "chat completion",
      () => chat(),
      (d) => d,
    );

    async function drain(): Promise<string> {
      const n = node;
      if (!n?.joined) return n ? `${n.name} was up before the run: left to the operator` : "no node joined";
      const instanceId = n.instanceId;
      if (!instanceId) return `${n.name} names no instance (no providerID): left to the operator`;
      const gone = async () => {
        const group = await target.driver.describe(spec);
        return group.instances.some((i) => i.id === instanceId) ? undefined : true;
      };
      try {
        await poll(gone, timeouts.drainMs, () => new Error("timeout"), 2000);
        drainedAt = performance.now();
        return `the operator removed ${n.name} (${instanceId})`;
      } catch {
        // The operator did not drain it: remove the instance the run caused, as the operator would have.
        await target.driver.terminate(spec, instanceId);
        drainedAt = performance.now();
        throw new Error(
          `the operator did not remove ${n.name} within ${timeouts.drainMs / 1000} s; instance ${instanceId} was removed through the ${spec.provider} driver`,
        );
      } finally {
        // A real node's Node object outlives its instance (NotReady); the run leaves none behind.
        await kubectl(["delete", "node", n.name, "--ignore-not-found", "--wait=false"]);
      }
    }
  }

  async function chat(): Promise<string> {
    const pod = await readyPod("burst");
    if (!pod) throw new Error(`no Ready burst replica of ${name} to ask`);
    // Through the API server's proxy, as an operator reaches a pod: no address of the fleet needs to be
    // reachable from here, and no Service rule needs to be in place yet.
    const request = { model: name, messages: [{ role: "user", content: "Say hello." }], max_tokens: 8 };
    const res = await postToPod(
      target.kubeconfig,
      { namespace: ns, pod: pod.metadata.name, port: SERVER_PORT, path: "/v1/chat/completions" },
      request,
      timeouts.chatMs,
    ).catch((err: unknown) => {
      throw new Error(`the API server's proxy to ${pod.metadata.name} failed: ${String(err)}`);
    });
    const raw = res.body;
    if (res.status !== 200)
      throw new Error(
        `${pod.metadata.name} on ${pod.spec?.nodeName} did not answer: ${res.status} ${raw.slice(0, 300)}`,
      );
    let body: { choices?: { message?: { content?: string } }[]; usage?: { completion_tokens?: number } };
    try {
      body = JSON.parse(raw) as typeof body;
    } catch {
      throw new Error(`unexpected answer from ${pod.metadata.name}: ${raw.slice(0, 300)}`);
    }
    const text = body.choices?.[0]?.message?.content;
    if (!text || !body.usage?.completion_tokens)
      throw new Error(`unexpected answer from ${pod.metadata.name}: ${raw.slice(0, 300)}`);
    return `${body.usage.completion_tokens} tokens from ${pod.metadata.name} on ${pod.spec?.nodeName}`;
  }

  async function readyPod(tier: "base" | "burst"): Promise<PodObject | undefined> {
    return (await pods(tier)).find((p) => readyOf(p.status?.conditions)?.status === "True");
  }

  async function conditions(): Promise<Condition[]> {
    const im = await kubectl.json<{ status?: { conditions?: Condition[] } }>(["get", "im", name, "-n", ns]);
    return im.status?.conditions ?? [];
  }

  async function pods(tier: "base" | "burst"): Promise<PodObject[]> {
    const list = await kubectl.json<{ items: PodObject[] }>([
      "get",
      "pods",
      "-n",
      ns,
      "-l",
      `${MODEL_LABEL}=${name},${TIER_LABEL}=${tier}`,
    ]);
    return list.items;
  }

  /** For the 3 a.m. reader: the pool's Available condition and why the scheduler left the replica pending. */
  async function whyNoNode(): Promise<string> {
    const p = await kubectl
      .json<{ status?: { desiredNodes?: number; conditions?: Condition[] } }>([
        "get",
        "burstpool",
        pool?.name ?? "",
      ])
      .catch(() => undefined);
    const available = p?.status?.conditions?.find((c) => c.type === PoolConditionType.Available);
    const pending = (await pods("burst").catch(() => []))[0]?.status?.conditions?.find(
      (c) => c.type === "PodScheduled" && c.status === "False",
    );
    return [
      `pool desiredNodes ${p?.status?.desiredNodes ?? "?"}, Available ${available?.status ?? "?"} (${available?.reason ?? ""}: ${available?.message ?? ""})`,
      pending ? `replica unscheduled: ${pending.message ?? pending.reason ?? ""}` : "",
    ]
      .filter(Boolean)
      .join("; ");
  }

  function inferenceModel(file: ModelFile) {
    return {
      apiVersion: "spillway.dev/v1alpha1",
      kind: "InferenceModel",
      metadata: { name, namespace: ns, labels: { "spillway.dev/smoke": "true" } },
      spec: {
        model: { uri: file.uri, sha256: file.sha256, contextSize: 512 },
        server: {
          parallel: 1,
          threads: 1,
          resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } },
          env: target.serverEnv,
        },
        replicas: {
          base: { min: 0, max: 0 },
          burst: { min: 1, max: 1, pools: [pool?.name ?? ""] },
        },
      },
    };
  }
}

async function poolNodes(kubectl: Kubectl, pool: string): Promise<NodeObject[]> {
  return (await kubectl.json<{ items: NodeObject[] }>(["get", "nodes", "-l", `${POOL_LABEL}=${pool}`])).items;
}
