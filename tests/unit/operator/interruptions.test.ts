import { describe, expect, it } from "vitest";
import { parseNotice } from "../../../src/operator/pools/interruptions.js";

// EventBridge events as EC2 sends them (AWS documentation: "Spot Instance interruption notices").
const event = (detailType: string, detail: Record<string, unknown>) =>
  JSON.stringify({
    version: "0",
    id: "12345678-1234-1234-1234-123456789012",
    "detail-type": detailType,
    source: "aws.ec2",
    account: "123456789012",
    time: "2026-01-01T00:00:00Z",
    region: "eu-central-1",
    resources: ["arn:aws:ec2:eu-central-1a:instance/i-1234567890abcdef0"],
    detail,
  });

describe("interruption notices", () => {
  it.each([
    [
      "EC2 Spot Instance Interruption Warning",
      { "instance-id": "i-1234567890abcdef0", "instance-action": "terminate" },
      "interruption-warning",
    ],
    [
      "EC2 Instance Rebalance Recommendation",
      { "instance-id": "i-1234567890abcdef0" },
      "rebalance-recommendation",
    ],
    [
      "EC2 Instance State-change Notification",
      { "instance-id": "i-1234567890abcdef0", state: "shutting-down" },
      "state-change",
    ],
  ])("reads %s", (type, detail, kind) => {
    expect(parseNotice(event(type, detail))).toEqual({ instanceId: "i-1234567890abcdef0", kind });
  });

  it("ignores a running state change, other sources and what is not JSON", () => {
    expect(
      parseNotice(
        event("EC2 Instance State-change Notification", { "instance-id": "i-1", state: "running" }),
      ),
    ).toBeUndefined();
    expect(
      parseNotice(
        JSON.parse(
          JSON.stringify(event("EC2 Spot Instance Interruption Warning", {})).replace("aws.ec2", "x"),
        ),
      ),
    ).toBeUndefined();
    expect(parseNotice("not json")).toBeUndefined();
  });
});
