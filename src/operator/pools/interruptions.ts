import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { perRegion, type AwsOptions } from "./aws.js";

/**
 * AWS spot interruption notices, the way Karpenter reads them: EventBridge rules put EC2's events on an
 * SQS queue (the aws-spot stack makes both), and the operator reads and deletes them. Three kinds count:
 * the two-minute Spot Instance Interruption Warning, the Rebalance Recommendation, and a state change to
 * stopping, shutting-down, stopped or terminated.
 */

export interface Notice {
  instanceId: string;
  kind: "interruption-warning" | "rebalance-recommendation" | "state-change";
}

const STOPPING = new Set(["stopping", "stopped", "shutting-down", "terminated"]);

/** The notice in one queue message (an EventBridge event as JSON), or undefined for anything else. */
export function parseNotice(body: string): Notice | undefined {
  let event: { "detail-type"?: string; source?: string; detail?: Record<string, unknown> };
  try {
    event = JSON.parse(body) as typeof event;
  } catch {
    return undefined;
  }
  const id = event.detail?.["instance-id"];
  if (event.source !== "aws.ec2" || typeof id !== "string") return undefined;
  switch (event["detail-type"]) {
    case "EC2 Spot Instance Interruption Warning":
      return { instanceId: id, kind: "interruption-warning" };
    case "EC2 Instance Rebalance Recommendation":
      return { instanceId: id, kind: "rebalance-recommendation" };
    case "EC2 Instance State-change Notification":
      return STOPPING.has(String(event.detail?.state)) ? { instanceId: id, kind: "state-change" } : undefined;
    default:
      return undefined;
  }
}

export class InterruptionQueue {
  private readonly client: (region: string) => SQSClient;

  constructor(o: AwsOptions) {
    this.client = perRegion(SQSClient, o);
  }

  /**
   * Everything waiting on the queue (no long poll: the pool round calls this every few seconds), with
   * `handle` called for each notice before its message is deleted, so a notice is never lost on a crash.
   */
  async drain(region: string, queueUrl: string, handle: (n: Notice) => void): Promise<number> {
    let count = 0;
    for (let batch = 0; batch < 10; batch++) {
      const out = await this.client(region).send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      const messages = out.Messages ?? [];
      if (!messages.length) break;
      for (const m of messages) {
        const notice = parseNotice(m.Body ?? "");
        if (notice) {
          handle(notice);
          count++;
        }
      }
      await this.client(region).send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: messages.flatMap((m, i) =>
            m.ReceiptHandle ? [{ Id: String(i), ReceiptHandle: m.ReceiptHandle }] : [],
          ),
        }),
      );
    }
    return count;
  }
}
