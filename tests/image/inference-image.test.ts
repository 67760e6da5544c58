import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, describe, expect, inject, it } from "vitest";
import { podmanEnv } from "../../src/cli/lib/podman.js";
import { loadTestcontainers } from "../helpers/containers.js";

const execFileAsync = promisify(execFile);

// The inference server image, built without a registry, starts and answers its liveness probe.
describe("inference server image", () => {
  const stops: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const stop of stops) await stop();
  });

  it("starts as a non-root user and answers /health", async () => {
    const { LoopbackContainer, Wait } = await loadTestcontainers();
    const container = await new LoopbackContainer(inject("inferenceImage"))
      .withExposedPorts(8080)
      .withWaitStrategy(Wait.forHttp("/health", 8080).forStatusCode(200))
      .withStartupTimeout(60_000)
      .start();
    stops.push(() => container.stop());

    // Published on loopback only, never on the machine's other interfaces.
    const { stdout } = await execFileAsync("podman", ["port", container.getId()], {
      env: { ...process.env, ...podmanEnv },
    });
    expect(stdout.trim()).toMatch(/^8080\/tcp -> 127\.0\.0\.1:\d+$/);

    const res = await fetch(`http://127.0.0.1:${container.getMappedPort(8080)}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });

    const id = await container.exec(["id", "-u"]);
    expect(id.output.trim()).toBe("10001");
  });
});
