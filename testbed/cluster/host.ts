import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * What a real node leaves on the host, and how it is found and removed again: cgroups, processes that
 * name its folders, mounts, the kubelet's and kube-proxy's iptables chains. Shared by the base node and
 * the spot nodes.
 */

export function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, {
    encoding: "utf8",
    input,
    stdio: ["pipe", "pipe", "pipe"],
    maxBuffer: 1 << 26,
  });
}

export function which(bin: string): string | undefined {
  try {
    return run("sh", ["-c", `command -v ${bin}`]).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** cgroup v1 controllers mounted under /sys/fs/cgroup, each needing our root. */
function cgroupControllers(): string[] {
  return readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f[2] === "cgroup" && f[1]?.startsWith("/sys/fs/cgroup/"))
    .map((f) => f[1] ?? "");
}

/** Makes `root` (a path under each controller, "/a/b") and every level above it usable. */
export function createCgroupRoot(root: string): void {
  for (const mount of cgroupControllers()) {
    let parent = mount;
    for (const part of root.split("/").filter(Boolean)) {
      const dir = join(parent, part);
      mkdirSync(dir, { recursive: true });
      // A v1 cpuset starts empty and accepts no task until it has CPUs and memory nodes.
      for (const f of ["cpuset.cpus", "cpuset.mems"]) {
        if (existsSync(join(dir, f)) && !readFileSync(join(dir, f), "utf8").trim()) {
          writeFileSync(join(dir, f), readFileSync(join(parent, f), "utf8"));
        }
      }
      parent = dir;
    }
  }
}

/** Kills every process in our cgroups and removes them, deepest first; returns how many it killed. */
export function removeCgroups(cgroupRoot: string): number {
  let killed = 0;
  for (const mount of cgroupControllers()) {
    const root = join(mount, cgroupRoot);
    if (!existsSync(root)) continue;
    const dirs: string[] = [];
    const walk = (d: string) => {
      dirs.push(d);
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    };
    walk(root);
    for (const d of dirs) {
      for (const pid of readFileSync(join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) {
        try {
          process.kill(Number(pid), "SIGKILL");
          killed++;
        } catch {
          // already gone
        }
      }
    }
    for (const d of dirs.reverse()) {
      for (let i = 0; i < 50; i++) {
        try {
          rmdirSync(d);
          break;
        } catch {
          execFileSync("sleep", ["0.1"]);
        }
      }
    }
  }
  return killed;
}

export const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** Processes whose command line names one of our paths (containerd shims, a kubelet left by a crash). */
export function ourProcesses(paths: string[]): number[] {
  const pids: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8");
      if (paths.some((p) => cmd.includes(p))) pids.push(Number(e));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

export function mountsUnder(dirs: string[]): string[] {
  return readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => (l.split(" ")[1] ?? "").replace(/\\040/g, " "))
    .filter((m) => dirs.some((d) => m === d || m.startsWith(`${d}/`)))
    .sort((a, b) => b.length - a.length);
}

/**
 * Removes the KUBE-* chains the kubelet and kube-proxy add to every table, and the rules jumping to them;
 * returns how many chains there were.
 */
export function removeKubeChains(): number {
  let chains = 0;
  for (const table of ["filter", "nat", "mangle"]) {
    let saved: string;
    try {
      saved = run("iptables-save", ["-t", table]);
    } catch {
      continue;
    }
    const lines = saved.split("\n");
    const own = lines.filter((l) => l.startsWith(":KUBE-")).map((l) => l.slice(1).split(" ")[0] ?? "");
    for (const l of lines) {
      const m = /^-A (\S+) (.*-j KUBE-\S+.*)$/.exec(l);
      if (m?.[1] && !m[1].startsWith("KUBE-")) {
        try {
          run("sh", ["-c", `iptables -t ${table} -D ${m[1]} ${m[2] ?? ""}`]);
        } catch {
          // removed already
        }
      }
    }
    for (const c of own) run("iptables", ["-t", table, "-F", c]);
    for (const c of own) run("iptables", ["-t", table, "-X", c]);
    chains += own.length;
  }
  return chains;
}
