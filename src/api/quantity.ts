/**
 * Kubernetes quantities ("500m", "2", "1.5Gi", "1e3") as numbers, so the operator can compare what it
 * applied with what the API server stored (it canonicalizes: `cpu: 2` comes back as "2", "1024Mi" as
 * "1Gi") and do arithmetic on requests and node capacity.
 */

const SUFFIX: Record<string, number> = {
  "": 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

// Kubernetes' own grammar for a quantity (its CRD pattern for int-or-string quantities): one source for
// the CRDs' validation (QUANTITY_PATTERN, in common.ts) and for reading values here.
const NUMBER = "[+-]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)";
const SUFFIXES = `(?:[KMGTPE]i)|[numkMGTPE]|[eE]${NUMBER}`;
export const QUANTITY_PATTERN = `^${NUMBER}(?:${SUFFIXES})?$`;
const QUANTITY = new RegExp(`^(${NUMBER})(${SUFFIXES})?$`);

/** The quantity's value in base units (cores, bytes), or undefined when it is not a quantity. */
export function parseQuantity(q: string | number | undefined): number | undefined {
  if (typeof q === "number") return Number.isFinite(q) ? q : undefined;
  if (typeof q !== "string") return undefined;
  const m = QUANTITY.exec(q.trim());
  if (!m) return undefined;
  const [, digits = "", suffix = ""] = m;
  if (/^[eE]/.test(suffix)) return Number(digits) * 10 ** Number(suffix.slice(1));
  return Number(digits) * (SUFFIX[suffix] ?? 1);
}

/** True when both are quantities of the same value ("2" and 2, "1024Mi" and "1Gi"). */
export function sameQuantity(a: unknown, b: unknown): boolean {
  if ((typeof a !== "string" && typeof a !== "number") || (typeof b !== "string" && typeof b !== "number"))
    return false;
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  // Relative tolerance: "0.1" and "100m" are the same number through different float paths.
  return x !== undefined && y !== undefined && Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(x));
}
