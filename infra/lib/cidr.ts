/** CIDR arithmetic for config validation and address planning. Pure; IPv4 and IPv6 via node:net. */
import { BlockList, isIP } from "node:net";

function split(cidr: string): { address: string; prefix: number; family: "ipv4" | "ipv6" } | undefined {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  if (!match) return undefined;
  const [, address = "", bits = ""] = match;
  const version = isIP(address);
  const prefix = Number(bits);
  if (version === 0 || prefix > (version === 4 ? 32 : 128)) return undefined;
  return { address, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

function ipv4ToInt(address: string): number {
  return address.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

/** A well-formed CIDR whose host bits are zero (10.0.1.0/24, not 10.0.1.7/24). */
export function isCidr(cidr: string): boolean {
  const parts = split(cidr);
  if (!parts) return false;
  if (parts.family === "ipv6") return true;
  return ipv4ToInt(parts.address) % 2 ** (32 - parts.prefix) === 0;
}

/** 0.0.0.0/0 or ::/0: anyone on the internet. */
export function isWorldCidr(cidr: string): boolean {
  const parts = split(cidr);
  return parts?.prefix === 0;
}

/** Whether every address of `inner` lies in `outer`. */
export function cidrContains(outer: string, inner: string): boolean {
  const o = split(outer);
  const i = split(inner);
  if (!o || !i || o.family !== i.family || i.prefix < o.prefix) return false;
  const list = new BlockList();
  list.addSubnet(o.address, o.prefix, o.family);
  return list.check(i.address, i.family);
}

/** The n-th address of an IPv4 CIDR, like Terraform's cidrhost(). */
export function cidrHost(cidr: string, n: number): string {
  const parts = split(cidr);
  if (!parts || parts.family !== "ipv4") throw new Error(`cidrHost needs an IPv4 CIDR, got ${cidr}`);
  const size = 2 ** (32 - parts.prefix);
  if (n < 1 || n >= size - 1) throw new Error(`host ${n} does not fit in ${cidr}`);
  return intToIpv4(ipv4ToInt(parts.address) + n);
}
