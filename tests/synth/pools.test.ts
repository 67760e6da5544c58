import { describe, expect, it } from "vitest";
import { burstPools } from "../../infra/lib/pools.js";
import { onlyResource, synth, infraTestConfig } from "../helpers/infra.js";

describe("BurstPools from the spot stacks", () => {
  const config = infraTestConfig();

  it("describe each pool as its stack builds it: group, labels, taint, size and price", () => {
    const [aws, gcp] = burstPools(config);
    expect(aws!.spec).toEqual({
      provider: "aws",
      region: "eu-central-1",
      group: onlyResource(synth("aws-spot", config), "aws_autoscaling_group").name,
      nodeCapacity: { cpu: 4, memory: "16Gi" },
      minNodes: 0,
      maxNodes: config.aws.maxNodes,
      hourlyPriceUsd: config.aws.hourlyPriceUsd,
    });
    expect(gcp!.spec.group).toBe(
      onlyResource(synth("gcp-spot", config), "google_compute_region_instance_group_manager").name,
    );
    expect(gcp!.metadata.name).toBe(gcp!.spec.group);
  });

  it("take the deployed group names from the outputs, and refuse outputs that disagree with the config", () => {
    const outputs = { "aws-spot": { asg_name: "spillway-dev-spot-eu-central-1" }, "gcp-spot": {} };
    expect(burstPools(config, outputs)[0]!.spec.group).toBe("spillway-dev-spot-eu-central-1");
    expect(burstPools(config, outputs)[0]!.spec.interruptionQueue).toBeUndefined();
    const queue =
      "https://sqs.eu-central-1.amazonaws.com/123456789012/spillway-dev-spot-eu-central-1-interruptions";
    const deployed = { "aws-spot": { ...outputs["aws-spot"], interruption_queue_url: queue } };
    expect(burstPools(config, deployed)[0]!.spec.interruptionQueue).toBe(queue);
    expect(() => burstPools(config, { "aws-spot": { asg_name: "old-group" } })).toThrow(
      /aws-spot output asg_name is "old-group" but the config names "spillway-dev-spot-eu-central-1"/,
    );
  });
});
