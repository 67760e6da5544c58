/**
 * A time as the API server writes metav1.Time (conditions' lastTransitionTime, BurstPool
 * status.unavailableUntil): RFC 3339 in UTC to the second. Status is compared with what was written before
 * to skip writes that change nothing, so every writer must format alike.
 */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
}
