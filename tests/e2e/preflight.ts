/**
 * Before the e2e tier: can this machine run the local cluster's real node at all? If not, one line with
 * the cause and its fix, and exit 2 (infrastructure unavailable, as for every `spillway` command), so CI tells "cannot run here" from "failed".
 */
import { preflight } from "../../testbed/cluster/real-node.js";

const problem = preflight();
if (problem) {
  process.stderr.write(`[e2e] cannot run here: ${problem.cause}\n[e2e]   fix: ${problem.fix}\n`);
  process.exit(2);
}
