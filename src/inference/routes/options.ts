import type { Runtime } from "../runtime.js";

/** What each route plugin is registered with; the app adds only what its own hooks need. */
export interface RouteOptions {
  runtime: Runtime;
  requestTimeoutSeconds: number;
}
