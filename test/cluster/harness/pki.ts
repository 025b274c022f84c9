// Keys and certificates for one throwaway cluster. Keys come from node:crypto; node:crypto cannot
// issue X.509 certificates, so the openssl CLI signs them.

import { execFile } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** The cluster outlives no test run; a short validity limits what a leaked key could do. */
const VALIDITY_DAYS = "7";

export interface Pki {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly servingCert: string;
  readonly servingKey: string;
  /** Service-account token signing key (private) and its public half for verification. */
  readonly serviceAccountKey: string;
  readonly serviceAccountPub: string;
  readonly admin: ClientCredential;
  readonly controllerManager: ClientCredential;
}

export interface ClientCredential {
  readonly cert: string;
  readonly key: string;
}

function writeKey(path: string): Promise<{ key: string; pub: string }> {
  // P-256 keys are instant to generate, unlike RSA, and every component accepts them.
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const key = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const pub = publicKey.export({ type: "spki", format: "pem" }).toString();
  return writeFile(path, key, { mode: 0o600 }).then(() => ({ key, pub }));
}

async function openssl(args: readonly string[]): Promise<void> {
  try {
    await execFileAsync("openssl", args);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`openssl ${args[0]} failed: ${stderr || String(error)}`);
  }
}

interface Subject {
  readonly cn: string;
  readonly o?: string;
}

function config(subject: Subject, extensions: readonly string[]): string {
  return [
    "[req]",
    "distinguished_name = dn",
    "prompt = no",
    "[dn]",
    ...(subject.o ? [`O = ${subject.o}`] : []),
    `CN = ${subject.cn}`,
    "[ext]",
    ...extensions,
    "",
  ].join("\n");
}

async function issue(
  dir: string,
  name: string,
  subject: Subject,
  extensions: readonly string[],
  ca: { cert: string; key: string },
): Promise<ClientCredential> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  const csr = join(dir, `${name}.csr`);
  const cnf = join(dir, `${name}.cnf`);
  await writeKey(key);
  await writeFile(cnf, config(subject, extensions));
  await openssl(["req", "-new", "-key", key, "-config", cnf, "-out", csr]);
  await openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.cert,
    "-CAkey",
    ca.key,
    "-set_serial",
    `0x${randomBytes(16).toString("hex")}`,
    "-days",
    VALIDITY_DAYS,
    "-extfile",
    cnf,
    "-extensions",
    "ext",
    "-out",
    cert,
  ]);
  return { cert, key };
}

/** Names the serving certificate answers to: loopback, and the in-cluster `kubernetes` Service. */
export function servingNames(serviceIp: string): string[] {
  return [
    "IP:127.0.0.1",
    `IP:${serviceIp}`,
    "DNS:localhost",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
  ];
}

export async function createPki(dir: string, serviceIp: string): Promise<Pki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caKey = join(dir, "ca.key");
  const caCert = join(dir, "ca.crt");
  const caCnf = join(dir, "ca.cnf");
  await writeKey(caKey);
  await writeFile(
    caCnf,
    config({ cn: "konsul-lb-test-ca" }, [
      "basicConstraints = critical, CA:TRUE",
      "keyUsage = critical, keyCertSign, cRLSign, digitalSignature",
      "subjectKeyIdentifier = hash",
    ]),
  );
  await openssl([
    "req",
    "-x509",
    "-new",
    "-key",
    caKey,
    "-config",
    caCnf,
    "-extensions",
    "ext",
    "-days",
    VALIDITY_DAYS,
    "-out",
    caCert,
  ]);
  const ca = { cert: caCert, key: caKey };
  const leaf = (usage: string) => [
    "basicConstraints = critical, CA:FALSE",
    "keyUsage = critical, digitalSignature, keyEncipherment",
    `extendedKeyUsage = ${usage}`,
    "authorityKeyIdentifier = keyid",
  ];

  const [serving, admin, controllerManager] = await Promise.all([
    issue(
      dir,
      "apiserver",
      { cn: "kube-apiserver" },
      [...leaf("serverAuth"), `subjectAltName = ${servingNames(serviceIp).join(", ")}`],
      ca,
    ),
    // Group system:masters is bound to cluster-admin by the bootstrap RBAC policy.
    issue(
      dir,
      "admin",
      { cn: "konsul-lb-test-admin", o: "system:masters" },
      leaf("clientAuth"),
      ca,
    ),
    // The bootstrap policy grants this user what the controller manager needs to mint
    // per-controller service-account credentials, as on a kubeadm cluster.
    issue(
      dir,
      "kube-controller-manager",
      { cn: "system:kube-controller-manager" },
      leaf("clientAuth"),
      ca,
    ),
  ]);

  const serviceAccountKey = join(dir, "service-account.key");
  const serviceAccountPub = join(dir, "service-account.pub");
  const { pub } = await writeKey(serviceAccountKey);
  await writeFile(serviceAccountPub, pub);

  return {
    dir,
    caCert,
    caKey,
    servingCert: serving.cert,
    servingKey: serving.key,
    serviceAccountKey,
    serviceAccountPub,
    admin,
    controllerManager,
  };
}

/** A kubeconfig with everything embedded, so it stays valid wherever it is copied. */
export async function writeKubeconfig(
  path: string,
  server: string,
  caCert: string,
  credential: ClientCredential,
  user: string,
): Promise<void> {
  const b64 = async (file: string) => (await readFile(file)).toString("base64");
  const text = `apiVersion: v1
kind: Config
clusters:
  - name: konsul-lb-test
    cluster:
      server: ${server}
      certificate-authority-data: ${await b64(caCert)}
users:
  - name: ${user}
    user:
      client-certificate-data: ${await b64(credential.cert)}
      client-key-data: ${await b64(credential.key)}
contexts:
  - name: konsul-lb-test
    context:
      cluster: konsul-lb-test
      user: ${user}
current-context: konsul-lb-test
`;
  await writeFile(path, text, { mode: 0o600 });
}
