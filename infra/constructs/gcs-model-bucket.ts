import { Construct } from "constructs";
import { StorageBucket } from "@cdktf/provider-google/lib/storage-bucket/index.js";

export interface GcsModelBucketProps {
  readonly name: string;
  /** A region keeps models next to the instance group that reads them. */
  readonly location: string;
  /** Days a replaced or deleted object version is kept before it is deleted. @default 30 */
  readonly noncurrentVersionDays?: number;
  readonly labels: Record<string, string>;
}

/**
 * A GCS bucket for model files and checkpoints: IAM-only access (uniform bucket-level access), public
 * access prevention enforced, versioned, and old versions deleted. GCS encrypts at rest by default.
 */
export class GcsModelBucket extends Construct {
  readonly bucket: StorageBucket;

  constructor(scope: Construct, id: string, props: GcsModelBucketProps) {
    super(scope, id);
    this.bucket = new StorageBucket(this, "bucket", {
      name: props.name,
      location: props.location.toUpperCase(),
      uniformBucketLevelAccess: true,
      publicAccessPrevention: "enforced",
      versioning: { enabled: true },
      lifecycleRule: [
        {
          condition: { daysSinceNoncurrentTime: props.noncurrentVersionDays ?? 30 },
          action: { type: "Delete" },
        },
        { condition: { age: 7, withState: "ANY" }, action: { type: "AbortIncompleteMultipartUpload" } },
      ],
      labels: props.labels,
    });
  }
}
