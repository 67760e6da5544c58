import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { UserError } from "../../src/lib/errors.js";
import { runDir } from "../../src/lib/paths.js";
import { podmanEnv } from "../lib/podman.js";
import { run, which } from "./host.js";

/**
 * How images reach a real node's containerd without a registry: podman's store → a docker archive (cached
 * per podman image ID) → `ctr images import`. A spot node can also boot from a baked image instead: a
 * containerd root that already holds the images, as a production AMI or GCE image with the inference image
 * pre-pulled would; each node gets a hard-linked copy of it (layers and blobs are never written in place),
 * so it starts with its images at once.
 */

const PODMAN_ENV = { ...process.env, ...podmanEnv };
const IMAGE_DIR = () => join(runDir, "node-image");

/** Podman's image ID, or undefined when podman does not have it. */
export function podmanImageId(image: string): string | undefined {
  try {
    return execFileSync("podman", ["image", "inspect", "--format", "{{.Id}}", image], {
      encoding: "utf8",
      env: PODMAN_ENV,
      stdio: ["ignore", "pipe", "pipe"],
    }).trim();
  } catch {
    return undefined;
  }
}

function requireId(image: string): string {
  const id = podmanImageId(image);
  if (!id) throw new UserError(`image ${image} is not built`, "run `npm run image`", 3);
  return id;
}

/** The image as a docker archive, saved once per podman image ID; older archives of it are removed. */
export function imageArchive(image: string): string {
  const id = requireId(image);
  const dir = join(IMAGE_DIR(), "archives");
  mkdirSync(dir, { recursive: true });
  const base = image.replace(/[^A-Za-z0-9_.-]/g, "_");
  const path = join(dir, `${base}@${id.slice(0, 16)}.tar`);
  if (existsSync(path)) return path;
  for (const f of readdirSync(dir)) if (f.startsWith(`${base}@`)) rmSync(join(dir, f), { force: true });
  const partial = `${path}.partial`;
  execFileSync("podman", ["save", "--format", "docker-archive", "-o", partial, image], {
    env: PODMAN_ENV,
    stdio: ["ignore", "pipe", "pipe"],
  });
  renameSync(partial, path);
  return path;
}

/**
 * Imports `images` into the containerd at `socket` whose root is `root`, skipping those whose podman ID
 * was imported there before (a stamp per image in the root). Returns the images imported.
 */
export function importImages(socket: string, root: string, images: string[]): string[] {
  const stamps = join(root, "imported");
  mkdirSync(stamps, { recursive: true });
  const imported: string[] = [];
  for (const image of images) {
    const id = requireId(image);
    const stamp = join(stamps, image.replace(/[^A-Za-z0-9_.-]/g, "_"));
    if (existsSync(stamp) && readFileSync(stamp, "utf8") === id) continue;
    run("ctr", ["--address", socket, "--namespace", "k8s.io", "images", "import", imageArchive(image)]);
    writeFileSync(stamp, id);
    imported.push(image);
  }
  return imported;
}

/**
 * The baked image for `images`: a containerd root holding them, made once per set of image IDs by a
 * containerd of its own (no CRI, no network) and reused by every spot node after it.
 */
export async function bakedRoot(images: string[]): Promise<string> {
  const key = images
    .map(requireId)
    .map((id) => id.slice(0, 12))
    .join("-");
  const dir = join(IMAGE_DIR(), "baked");
  const root = join(dir, key);
  if (existsSync(join(root, "baked"))) return root;
  rmSync(dir, { recursive: true, force: true });
  const state = join(dir, "state");
  mkdirSync(state, { recursive: true });
  const socket = join(state, "containerd.sock");
  const config = join(dir, "containerd.toml");
  writeFileSync(
    config,
    `version = 2\nroot = ${JSON.stringify(root)}\nstate = ${JSON.stringify(state)}\n` +
      `disabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = ${JSON.stringify(socket)}\n`,
  );
  const containerd = spawn(which("containerd") ?? "containerd", ["--config", config, "--log-level", "warn"], {
    stdio: "ignore",
  });
  try {
    for (let i = 0; ; i++) {
      try {
        run("ctr", ["--address", socket, "version"]);
        break;
      } catch (err) {
        if (i > 100 || containerd.exitCode !== null) throw err;
        await sleep(100);
      }
    }
    importImages(socket, root, images);
  } finally {
    containerd.kill("SIGTERM");
    await new Promise((r) => containerd.once("exit", r));
  }
  rmSync(state, { recursive: true, force: true });
  writeFileSync(join(root, "baked"), `${images.join("\n")}\n`);
  return root;
}

/**
 * A node's own containerd root from the baked one: hard links for blobs and unpacked layers, which
 * containerd never writes in place, and real copies of the bolt databases, which it does.
 */
export function seedRoot(baked: string, root: string): void {
  mkdirSync(root, { recursive: true });
  run("cp", ["-al", `${baked}/.`, root]);
  const dbs = run("find", [root, "-name", "*.db", "-type", "f"]).split("\n").filter(Boolean);
  for (const db of dbs) run("cp", ["--remove-destination", join(baked, db.slice(root.length)), db]);
}
