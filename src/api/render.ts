import { stringify } from "yaml";
import { allCrds } from "./crds.js";

const HEADER = "# Generated from src/api by `npm run crds`; do not edit.\n";

/** File name → YAML of every CRD, as committed under charts/spillway/crds. */
export function renderCrds(): Record<string, string> {
  return Object.fromEntries(
    allCrds().map((c) => [`${c.metadata.name}.yaml`, HEADER + stringify(c, { lineWidth: 0 })]),
  );
}
