import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NETWORK } from "./network.js";

/** The real node's name: its kubelet's client certificate names it, so the Node authorizer knows it. */
export const REAL_NODE_NAME = "spillway-node-0";
/** Its address: the pod bridge's (network.ts), which the kubelet's serving certificate names. */
const NODE_IP = NETWORK.gateway;

/**
 * Certificates for the local control plane, made with the openssl CLI (node:crypto cannot issue X.509).
 * ECDSA P-256 keeps generation instant. One CA signs the API server's serving certificate and a client
 * certificate per component, so RBAC sees each one under its own bootstrap identity.
 */
export interface ClientIdentity {
  name: string;
  commonName: string;
  organization?: string;
}

export const CLIENT_IDENTITIES: ClientIdentity[] = [
  { name: "admin", commonName: "spillway-admin", organization: "system:masters" },
  { name: "kube-controller-manager", commonName: "system:kube-controller-manager" },
  { name: "kube-scheduler", commonName: "system:kube-scheduler" },
  // kwok stands in for every node's kubelet; the Node authorizer does not know fake nodes, so it gets admin.
  { name: "kwok", commonName: "kwok-controller", organization: "system:masters" },
  // The real node: its kubelet under the Node authorizer, kube-proxy under its bootstrap role, and the
  // API server's client for kubelet calls (logs, exec, port-forward).
  { name: "kubelet", commonName: `system:node:${REAL_NODE_NAME}`, organization: "system:nodes" },
  { name: "kube-proxy", commonName: "system:kube-proxy" },
  {
    name: "apiserver-kubelet-client",
    commonName: "kube-apiserver-kubelet-client",
    organization: "system:masters",
  },
];

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  kubeletCert: string;
  kubeletKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
  client(name: string): { cert: string; key: string };
}

function openssl(args: string[], input?: string): string {
  return execFileSync("openssl", args, { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
}

function newKey(path: string): void {
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path]);
}

function sign(dir: string, name: string, subject: string, extensions: string): void {
  const key = join(dir, `${name}.key`);
  newKey(key);
  const csr = openssl(["req", "-new", "-key", key, "-subj", subject]);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, extensions);
  const cert = openssl(
    ["x509", "-req", "-CA", join(dir, "ca.crt"), "-CAkey", join(dir, "ca.key"), "-CAcreateserial"].concat([
      "-days",
      "3650",
      "-sha256",
      "-extfile",
      extFile,
    ]),
    csr,
  );
  writeFileSync(join(dir, `${name}.crt`), cert);
}

export function createPki(dir: string, serverSans: string[]): Pki {
  mkdirSync(dir, { recursive: true });
  newKey(join(dir, "ca.key"));
  openssl(
    ["req", "-x509", "-new", "-key", join(dir, "ca.key"), "-subj", "/CN=spillway-local-ca"].concat([
      "-days",
      "3650",
      "-sha256",
      "-out",
      join(dir, "ca.crt"),
    ]),
  );
  sign(
    dir,
    "kube-apiserver",
    "/CN=kube-apiserver",
    `subjectAltName=${serverSans.join(",")}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n`,
  );
  sign(
    dir,
    "kubelet-serving",
    `/CN=${REAL_NODE_NAME}`,
    `subjectAltName=IP:${NODE_IP},DNS:${REAL_NODE_NAME}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n`,
  );
  for (const id of CLIENT_IDENTITIES) {
    const subject = `${id.organization ? `/O=${id.organization}` : ""}/CN=${id.commonName}`;
    sign(dir, id.name, subject, "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n");
  }
  newKey(join(dir, "sa.key"));
  writeFileSync(join(dir, "sa.pub"), openssl(["pkey", "-in", join(dir, "sa.key"), "-pubout"]));
  return loadPki(dir);
}

/**
 * A node's own kubelet certificates, signed by the cluster's CA into `dir`: a client certificate under the
 * Node authorizer (system:node:NAME) and a serving certificate naming the node's address, which the API
 * server checks when it calls the kubelet. Each spot node gets its own, as a joining node would.
 */
export function issueNodeCertificates(
  pki: Pki,
  dir: string,
  node: string,
  ip: string,
): { client: { cert: string; key: string }; serving: { cert: string; key: string } } {
  mkdirSync(dir, { recursive: true });
  const ca = (name: string) => ({ from: join(pki.dir, name), to: join(dir, name) });
  // sign() reads the CA next to what it writes; copies keep the cluster's own folder untouched.
  for (const f of ["ca.crt", "ca.key"].map(ca)) writeFileSync(f.to, readFileSync(f.from));
  sign(
    dir,
    "kubelet",
    `/O=system:nodes/CN=system:node:${node}`,
    "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n",
  );
  sign(
    dir,
    "kubelet-serving",
    `/CN=${node}`,
    `subjectAltName=IP:${ip},DNS:${node}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n`,
  );
  rmSync(join(dir, "ca.key"));
  return {
    client: { cert: join(dir, "kubelet.crt"), key: join(dir, "kubelet.key") },
    serving: { cert: join(dir, "kubelet-serving.crt"), key: join(dir, "kubelet-serving.key") },
  };
}

export function loadPki(dir: string): Pki {
  return {
    dir,
    caCert: join(dir, "ca.crt"),
    caKey: join(dir, "ca.key"),
    serverCert: join(dir, "kube-apiserver.crt"),
    serverKey: join(dir, "kube-apiserver.key"),
    kubeletCert: join(dir, "kubelet-serving.crt"),
    kubeletKey: join(dir, "kubelet-serving.key"),
    serviceAccountKey: join(dir, "sa.key"),
    serviceAccountPub: join(dir, "sa.pub"),
    client: (name) => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }),
  };
}

/** A kubeconfig with the CA and client credentials embedded, so it stays valid if copied elsewhere. */
export function kubeconfig(
  server: string,
  pki: Pki,
  identity: string,
  files: { cert: string; key: string } = pki.client(identity),
): string {
  const b64 = (path: string) => readFileSync(path).toString("base64");
  const { cert, key } = files;
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: spillway-local",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(pki.caCert)}`,
    "users:",
    `- name: ${identity}`,
    "  user:",
    `    client-certificate-data: ${b64(cert)}`,
    `    client-key-data: ${b64(key)}`,
    "contexts:",
    "- name: spillway-local",
    "  context:",
    "    cluster: spillway-local",
    `    user: ${identity}`,
    "current-context: spillway-local",
    "",
  ].join("\n");
}
