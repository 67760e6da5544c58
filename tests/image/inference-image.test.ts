import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, describe, expect, inject, it } from "vitest";
import { podmanEnv } from "../../testbed/lib/podman.js";
import { loadTestcontainers } from "../helpers/containers.js";
import { chat, json } from "../helpers/inference.js";
import { fixtureModel } from "../helpers/fixture-model.js";

const execFileAsync = promisify(execFile);

// The inference server image, built without a registry, serves a model mounted into it.
describe("inference server image", () => {
  const stops: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const stop of stops) await stop();
  });

  it("runs as a non-root user, turns ready and serves a chat completion", async () => {
    const { LoopbackContainer, Wait } = await loadTestcontainers();
    const container = await new LoopbackContainer(inject("inferenceImage"))
      .withExposedPorts(8080)
      .withBindMounts([{ source: fixtureModel(), target: "/models/tiny.gguf", mode: "ro" }])
      .withEnvironment({
        SPILLWAY_MODEL: "/models/tiny.gguf",
        SPILLWAY_PARALLEL: "2",
        SPILLWAY_CONTEXT_SIZE: "512",
      })
      .withTmpFs({ "/var/cache/spillway": "rw" })
      .withWaitStrategy(Wait.forHttp("/ready", 8080).forStatusCode(200))
      .withStartupTimeout(90_000)
      .start();
    stops.push(() => container.stop());

    // Published on loopback only, never on the machine's other interfaces.
    const { stdout } = await execFileAsync("podman", ["port", container.getId()], {
      env: { ...process.env, ...podmanEnv },
    });
    expect(stdout.trim()).toMatch(/^8080\/tcp -> 127\.0\.0\.1:\d+$/);

    const url = `http://127.0.0.1:${container.getMappedPort(8080)}`;
    expect(await json(await fetch(`${url}/health`))).toEqual({ status: "ok" });
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(chat("hello from a container", { model: "tiny", max_tokens: 5 })),
    });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.object).toBe("chat.completion");
    expect(body.usage.completion_tokens).toBe(5);

    const id = await container.exec(["id", "-u"]);
    expect(id.output.trim()).toBe("10001");
  });

  it("carries only what the server and the operator run: 300 MB at most, no build-time packages", async () => {
    const env = { ...process.env, ...podmanEnv };
    const image = inject("inferenceImage");
    const { stdout } = await execFileAsync("podman", ["image", "inspect", "--format", "{{.Size}}", image], {
      env,
    });
    const mb = Number(stdout.trim()) / 1e6;
    console.log(`[image] ${image}: ${mb.toFixed(0)} MB`);
    expect(mb).toBeLessThanOrEqual(300);
    const { stdout: modules } = await execFileAsync(
      "podman",
      [
        "run",
        "--rm",
        "--network=none",
        "--entrypoint",
        "/bin/ls",
        image,
        "/app/node_modules",
        "/app/node_modules/@node-llama-cpp",
      ],
      { env },
    );
    expect(modules).toContain("node-llama-cpp");
    for (const absent of ["cdktf", "@cdktf", "@kubernetes", "fastify", "@aws-sdk"]) {
      expect(modules.split(/\s+/)).not.toContain(absent);
    }
    // The operator's bundle starts (and stops on its own at a config it cannot read) from the same image.
    const op = await execFileAsync(
      "podman",
      [
        "run",
        "--rm",
        "--network=none",
        "--entrypoint",
        "/opt/node/bin/node",
        image,
        "/app/dist/operator/main.js",
        "--config",
        "/none",
      ],
      { env },
    ).catch((e: unknown) => e as { code: number; stderr: string });
    expect(op).toMatchObject({ code: 3 });
    expect((op as { stderr: string }).stderr).toContain("cannot read the config file");
  });
});
