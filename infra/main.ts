/**
 * The CDKTF app: `cdktf synth` / `cdktf deploy <stack>` from the repository root (see cdktf.json).
 *
 *   SPILLWAY_ENV           which infra/config/<env>.yaml to build (default dev)
 *   SPILLWAY_CONFIG        a config file elsewhere (overrides SPILLWAY_ENV)
 *   SPILLWAY_AWS_ENDPOINT  deploy the AWS stack to an emulator instead (the emulator test tier)
 *
 * A bad config exits 3 (configuration error) with every problem named by its field.
 */
import { App } from "cdktf";
import { InfraConfigError, loadConfig } from "./config/schema.js";
import { buildStacks } from "./stacks/index.js";

try {
  const config = loadConfig();
  const app = new App();
  buildStacks(app, config, { awsEndpoint: process.env.SPILLWAY_AWS_ENDPOINT });
  app.synth();
} catch (err) {
  if (!(err instanceof InfraConfigError)) throw err;
  console.error(err.message);
  process.exit(3);
}
