import { TerraformVariable } from "cdktf";
import type { Construct } from "constructs";

/**
 * The k3s cluster token, shared by every stack that starts nodes. A sensitive input (TF_VAR_k3s_token),
 * never a literal in code or config: Terraform keeps it out of plan output and logs, and no output
 * carries it. It does reach user data and therefore state; keep state in an encrypted backend.
 */
export function clusterToken(scope: Construct): TerraformVariable {
  return new TerraformVariable(scope, "k3s_token", {
    type: "string",
    sensitive: true,
    nullable: false,
    description: "k3s cluster join token (set TF_VAR_k3s_token; at least 32 random characters)",
    validation: [
      {
        condition: "${length(var.k3s_token) >= 32}",
        errorMessage: "k3s_token must be at least 32 characters.",
      },
    ],
  });
}
