import type { GenericContainer } from "testcontainers";
import { inject } from "vitest";

/**
 * testcontainers configured for podman: its Docker API socket, no Ryuk (reaping needs a privileged
 * sidecar image from a registry), and published ports bound to loopback only.
 */
export async function loadTestcontainers() {
  process.env.DOCKER_HOST = inject("dockerHost");
  process.env.TESTCONTAINERS_RYUK_DISABLED = "true";
  process.env.TESTCONTAINERS_HOST_OVERRIDE = "127.0.0.1";
  const tc = await import("testcontainers");

  class LoopbackContainer extends tc.GenericContainer {
    override withExposedPorts(...ports: Parameters<GenericContainer["withExposedPorts"]>): this {
      super.withExposedPorts(...ports);
      const portBindings = (this.hostConfig.PortBindings ?? {}) as Record<string, { HostIp?: string }[]>;
      for (const bindings of Object.values(portBindings)) {
        for (const b of bindings) b.HostIp = "127.0.0.1";
      }
      return this;
    }
  }
  return { ...tc, LoopbackContainer };
}
