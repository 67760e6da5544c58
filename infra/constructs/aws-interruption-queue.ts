import { Construct } from "constructs";
import { CloudwatchEventRule } from "@cdktf/provider-aws/lib/cloudwatch-event-rule/index.js";
import { CloudwatchEventTarget } from "@cdktf/provider-aws/lib/cloudwatch-event-target/index.js";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document/index.js";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue/index.js";
import { SqsQueuePolicy } from "@cdktf/provider-aws/lib/sqs-queue-policy/index.js";

export interface AwsInterruptionQueueProps {
  /** Prefix of the queue and rule names. */
  readonly name: string;
  readonly tags: Record<string, string>;
  /** How long an unread notice is kept; a two-minute warning is useless after that. @default 300 */
  readonly retentionSeconds?: number;
}

/** The EC2 events the operator acts on, each as its own EventBridge rule. */
export const INTERRUPTION_EVENTS = {
  "spot-interruption": { "detail-type": ["EC2 Spot Instance Interruption Warning"] },
  rebalance: { "detail-type": ["EC2 Instance Rebalance Recommendation"] },
  "state-change": {
    "detail-type": ["EC2 Instance State-change Notification"],
    detail: { state: ["stopping", "stopped", "shutting-down", "terminated"] },
  },
} as const;

/**
 * Spot interruption notices for the operator, as Karpenter takes them: EventBridge rules for EC2's
 * interruption warning, rebalance recommendation and stopping state changes, all delivered to one
 * encrypted SQS queue that only EventBridge may write to.
 */
export class AwsInterruptionQueue extends Construct {
  readonly queue: SqsQueue;

  constructor(scope: Construct, id: string, props: AwsInterruptionQueueProps) {
    super(scope, id);
    this.queue = new SqsQueue(this, "queue", {
      name: `${props.name}-interruptions`,
      messageRetentionSeconds: props.retentionSeconds ?? 300,
      sqsManagedSseEnabled: true,
      tags: props.tags,
    });
    const send = new DataAwsIamPolicyDocument(this, "send", {
      statement: [
        {
          sid: "EventBridgeSends",
          actions: ["sqs:SendMessage"],
          principals: [{ type: "Service", identifiers: ["events.amazonaws.com", "sqs.amazonaws.com"] }],
          resources: [this.queue.arn],
        },
      ],
    });
    new SqsQueuePolicy(this, "policy", { queueUrl: this.queue.url, policy: send.json });
    for (const [rule, detail] of Object.entries(INTERRUPTION_EVENTS)) {
      const r = new CloudwatchEventRule(this, rule, {
        name: `${props.name}-${rule}`,
        description: `Spillway: ${detail["detail-type"][0]} to the interruption queue`,
        eventPattern: JSON.stringify({ source: ["aws.ec2"], ...detail }),
        tags: props.tags,
      });
      new CloudwatchEventTarget(this, `${rule}-target`, { rule: r.name, arn: this.queue.arn });
    }
  }
}
