/**
 * Parsers of single setting values, shared by flags, environment variables and the config file.
 * Each failure is a SettingsError whose message names where the value came from, the value and
 * what is allowed: `--http-addr: "localhost" is not allowed (no port); expected host:port ...`.
 */

import { isIP, isIPv4, isIPv6 } from "node:net";
import { MAX_TABLE_BUILD_WORKERS } from "../balancer/index.ts";
import { tryParseDuration } from "../policy/duration.ts";
import { DNS_1123_LABEL, DNS_1123_SUBDOMAIN } from "../shared/kubernetes-names.ts";
import { showValue } from "../shared/show-value.ts";

/** A setting value that cannot be used; the message is ready to show to the user. */
export class SettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SettingsError";
  }
}

/** pino's levels, and "silent" to log nothing. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(value: unknown): value is LogLevel {
  return LOG_LEVELS.includes(value as LogLevel);
}

/** `<where>: <value> is not allowed (<reason>); expected <allowed>`. */
export function notAllowedMessage(
  where: string,
  value: unknown,
  allowed: string,
  reason?: string,
): string {
  const because = reason === undefined ? "" : ` (${reason})`;
  return `${where}: ${showValue(value)} is not allowed${because}; expected ${allowed}`;
}

export const HOST_PORT_ALLOWED =
  "host:port, such as 0.0.0.0:8080, localhost:8080 or [::1]:8080 (IPv6 in brackets), " +
  "with a port from 0 to 65535 (0 = any free port)";

const PORT = /^[0-9]{1,5}$/;
const HOST_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const MAX_HOST_NAME = 253;

/** A DNS host name (RFC 1123); a name whose last label is numeric is a mistyped IPv4 address. */
function isHostName(host: string): boolean {
  if (host.length > MAX_HOST_NAME) return false;
  const labels = host.split(".");
  if (!labels.every((label) => HOST_LABEL.test(label))) return false;
  return !/^[0-9]+$/.test(labels[labels.length - 1] ?? "");
}

export interface HostPort {
  /** An IPv4 address, an IPv6 address without brackets, or a host name. */
  readonly host: string;
  /** 0 to 65535; 0 asks the system for any free port. */
  readonly port: number;
}

/**
 * Splits `host:port` (IPv6 as `[::1]:8080`). `settingName` is where the value came from
 * ("--http-addr", "KONSUL_LB_HTTP_ADDR", "config.yaml: httpAddr") and starts the error message.
 */
export function parseHostPort(value: string, settingName: string): HostPort {
  const fail = (reason: string): never => {
    throw new SettingsError(notAllowedMessage(settingName, value, HOST_PORT_ALLOWED, reason));
  };
  let host: string;
  let portText: string;
  if (value.startsWith("[")) {
    const close = value.indexOf("]");
    if (close === -1) return fail("no closing bracket after the IPv6 address");
    host = value.slice(1, close);
    const rest = value.slice(close + 1);
    if (!rest.startsWith(":")) return fail("no port after the IPv6 address");
    portText = rest.slice(1);
    if (!isIPv6(host)) return fail(`${showValue(host)} is not an IPv6 address`);
  } else {
    const colon = value.lastIndexOf(":");
    if (colon === -1) return fail("no port");
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (host === "") return fail("no host; use 0.0.0.0 for every IPv4 interface or [::] for all");
    if (host.includes(":")) return fail("an IPv6 address must be written in brackets");
    if (!isIPv4(host) && !isHostName(host)) {
      return fail(`${showValue(host)} is neither an IPv4 address nor a host name`);
    }
  }
  if (!PORT.test(portText)) {
    return fail(portText === "" ? "no port" : `port ${showValue(portText)} is not a number`);
  }
  const port = Number(portText);
  if (port > 65_535) return fail(`port ${port} is out of range`);
  return { host, port };
}

/** The names proxy-addr (Express's `trust proxy`) expands to address ranges. */
export const TRUST_PROXY_NAMES = ["loopback", "linklocal", "uniquelocal"] as const;

/** One trusted proxy in a list. */
export const TRUST_PROXY_ENTRY_ALLOWED = `an IP address, a CIDR range (10.0.0.0/8, fc00::/7) or one of ${TRUST_PROXY_NAMES.join(", ")}`;

export const TRUST_PROXY_ALLOWED =
  "false, true, a hop count (a whole number), or a comma-separated list of trusted proxies, " +
  `each ${TRUST_PROXY_ENTRY_ALLOWED}`;

const DIGITS = /^[0-9]+$/;

/** Prefix length of a contiguous IPv4 netmask ("255.255.0.0" → 16), or null. */
function netmaskPrefix(mask: string): number | null {
  const bits = mask
    .split(".")
    .map((octet) => Number(octet).toString(2).padStart(8, "0"))
    .join("");
  if (!/^1*0*$/.test(bits)) return null;
  const firstZero = bits.indexOf("0");
  return firstZero === -1 ? 32 : firstZero;
}

/** Why `entry` is not a trusted address as proxy-addr reads it, or null when it is one. */
function trustEntryProblem(entry: string): string | null {
  if (entry === "") return "an empty entry in the list";
  if ((TRUST_PROXY_NAMES as readonly string[]).includes(entry)) return null;
  const slash = entry.lastIndexOf("/");
  const address = slash === -1 ? entry : entry.slice(0, slash);
  // Zone indices (fe80::1%eth0) are rejected: the client address Express compares has none.
  const kind = address.includes("%") ? 0 : isIP(address);
  if (kind === 0) return `${showValue(address)} is not an IP address or a known name`;
  if (slash === -1) return null;
  const range = entry.slice(slash + 1);
  const max = kind === 4 ? 32 : 128;
  let prefix: number | null = null;
  if (DIGITS.test(range)) prefix = Number(range);
  else if (kind === 4 && isIPv4(range)) prefix = netmaskPrefix(range);
  // proxy-addr rejects a zero-length prefix: trusting every address is `true`.
  if (prefix === null || prefix < 1 || prefix > max) {
    return `${showValue(entry)} has an invalid range; expected a prefix length from 1 to ${max}`;
  }
  return null;
}

/**
 * The value of Express's `trust proxy` setting, from its text form: "true", "false", a hop
 * count, or a comma-separated list of addresses, CIDR ranges and names. The list comes back
 * with the blanks around its commas removed, a form Express reads the same way.
 */
export function parseTrustProxy(value: string, settingName: string): boolean | number | string {
  if (value === "true") return true;
  if (value === "false") return false;
  if (DIGITS.test(value)) {
    const hops = Number(value);
    if (!Number.isSafeInteger(hops)) {
      throw new SettingsError(
        notAllowedMessage(settingName, value, TRUST_PROXY_ALLOWED, "too many hops"),
      );
    }
    return hops;
  }
  return parseTrustedProxies(value.split(","), value, settingName);
}

/**
 * A list of trusted proxies (addresses, CIDR ranges, names; an entry may itself hold several
 * separated by commas) as the comma-separated string Express reads. `shown` is the value as the
 * user wrote it, for the message.
 */
export function parseTrustedProxies(
  list: readonly string[],
  shown: unknown,
  settingName: string,
): string {
  const entries = list.flatMap((item) => item.split(",")).map((entry) => entry.trim());
  for (const entry of entries) {
    const problem = trustEntryProblem(entry);
    if (problem !== null) {
      throw new SettingsError(notAllowedMessage(settingName, shown, TRUST_PROXY_ALLOWED, problem));
    }
  }
  return entries.join(",");
}

export const DNS_DOMAIN_ALLOWED =
  "a DNS name of one or more labels separated by dots, such as lb.konsul.local or " +
  "lb.konsul.local. (trailing dot optional), each label 1 to 63 letters, digits, hyphens or " +
  "underscores, at most 253 characters in all";

const DNS_LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * The same names as a schema pattern, either case, trailing dot optional (254 characters with
 * it). For the chart's schema; the server's own check is parseDnsDomain, with clearer messages.
 */
export const DNS_DOMAIN_PATTERN =
  "^([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\\.?$";

/**
 * The domain the DNS server answers for, lowercased and without its trailing dot: DNS names
 * compare without regard to ASCII case (RFC 4343), so the server matches on one spelling.
 */
export function parseDnsDomain(value: string, settingName: string): string {
  const fail = (reason: string): never => {
    throw new SettingsError(notAllowedMessage(settingName, value, DNS_DOMAIN_ALLOWED, reason));
  };
  const name = (value.endsWith(".") ? value.slice(0, -1) : value).toLowerCase();
  if (name === "") return fail("the root cannot be the domain; name a domain below it");
  if (name.length > 253) return fail("longer than 253 characters");
  for (const label of name.split(".")) {
    if (label === "") return fail("an empty label");
    if (!DNS_LABEL.test(label)) return fail(`the label ${showValue(label)} is not allowed`);
  }
  return name;
}

export const MAX_DNS_TTL_SECONDS = 86_400;

export const DNS_TTL_ALLOWED =
  `a whole number of seconds from 0 to ${MAX_DNS_TTL_SECONDS}, or a duration of whole ` +
  'seconds such as "5s", "1m" or "0s"';

/** A number of seconds, or a duration of whole h, m and s parts, as a schema pattern. */
export const DNS_TTL_PATTERN = "^([0-9]+|([0-9]+(h|m|s))+)$";

/** A TTL in seconds from a number of seconds (5, "5") or a Go-style duration ("5s", "1m30s"). */
export function parseDnsTtl(value: unknown, settingName: string): number {
  const fail = (reason?: string): never => {
    throw new SettingsError(notAllowedMessage(settingName, value, DNS_TTL_ALLOWED, reason));
  };
  let seconds: number;
  if (typeof value === "number") seconds = value;
  else if (typeof value !== "string") return fail();
  else if (DIGITS.test(value)) seconds = Number(value);
  else {
    const ms = tryParseDuration(value);
    if (ms === null) return fail("not a number of seconds or a duration");
    if (ms % 1000 !== 0) return fail("DNS TTLs are whole seconds");
    seconds = ms / 1000;
  }
  if (!Number.isInteger(seconds)) return fail("not a whole number of seconds");
  if (seconds < 0 || seconds > MAX_DNS_TTL_SECONDS) return fail("out of range");
  return seconds;
}

export const MAX_DNS_ANSWERS = 1000;

export const DNS_MAX_ANSWERS_ALLOWED = `an integer from 1 to ${MAX_DNS_ANSWERS}`;

/** A whole number from 1 to `max`, from a number or its text. */
function parseCount(value: unknown, settingName: string, max: number, allowed: string): number {
  const count =
    typeof value === "number"
      ? value
      : typeof value === "string" && DIGITS.test(value)
        ? Number(value)
        : NaN;
  if (!Number.isInteger(count) || count < 1 || count > max) {
    throw new SettingsError(notAllowedMessage(settingName, value, allowed));
  }
  return count;
}

/** The caps take whole numbers; a million is far above what one process should hold. */
export const MAX_LIMIT_SETTING = 1_000_000;
export const LIMIT_ALLOWED = `a whole number from 1 to ${MAX_LIMIT_SETTING}`;

/** A cap on what the server holds at once: a whole number from 1 to MAX_LIMIT_SETTING. */
export function parseLimit(value: unknown, settingName: string): number {
  return parseCount(value, settingName, MAX_LIMIT_SETTING, LIMIT_ALLOWED);
}

/** Table build workers: 0 (every table built on the event loop) up to the pool's maximum. */
export const TABLE_BUILD_WORKERS_ALLOWED = `an integer from 0 to ${MAX_TABLE_BUILD_WORKERS}`;

export function parseTableBuildWorkers(value: unknown, settingName: string): number {
  // parseCount starts at 1: zero is let through here, as the pool-less setting.
  if (value === 0 || value === "0") return 0;
  return parseCount(value, settingName, MAX_TABLE_BUILD_WORKERS, TABLE_BUILD_WORKERS_ALLOWED);
}

/** The most records in one DNS answer, from a number or its text. */
export function parseDnsMaxAnswers(value: unknown, settingName: string): number {
  return parseCount(value, settingName, MAX_DNS_ANSWERS, DNS_MAX_ANSWERS_ALLOWED);
}

/** A name of a Kubernetes object or namespace: an RFC 1123 label or subdomain. */
export function parseKubernetesName(
  value: unknown,
  settingName: string,
  kind: "label" | "subdomain",
  maxLength: number,
): string {
  const pattern = kind === "label" ? DNS_1123_LABEL : DNS_1123_SUBDOMAIN;
  if (typeof value !== "string" || value.length > maxLength || !pattern.test(value)) {
    const allowed =
      kind === "label"
        ? `a DNS label of up to ${maxLength} characters: lowercase letters, digits and "-"`
        : `a DNS subdomain of up to ${maxLength} characters: lowercase letters, digits, "-" and "."`;
    throw new SettingsError(notAllowedMessage(settingName, value, allowed));
  }
  return value;
}

/** Milliseconds of a Go-style duration above 0 ("15s", "500ms"). */
export function parsePositiveDuration(value: unknown, settingName: string): number {
  const ms = typeof value === "string" ? tryParseDuration(value) : null;
  if (ms === null || ms <= 0) {
    throw new SettingsError(
      notAllowedMessage(settingName, value, "a duration above 0 such as 15s or 500ms"),
    );
  }
  return ms;
}

/** "true" or "false", as flags and environment variables write a switch. */
export function parseSwitch(value: unknown, settingName: string): boolean {
  if (value !== "true" && value !== "false") {
    throw new SettingsError(notAllowedMessage(settingName, value, "true or false"));
  }
  return value === "true";
}

/** An http or https URL, without trailing slashes (paths are appended to it). */
export function parseHttpUrl(value: unknown, settingName: string): string {
  const text = String(value);
  let url: URL | null = null;
  try {
    url = new URL(text);
  } catch {}
  if (url === null || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new SettingsError(
      notAllowedMessage(settingName, value, "an http or https URL such as http://10.0.0.7:8080"),
    );
  }
  return text.replace(/\/+$/, "");
}

/** A file path: any text but the empty one. `allowed` says what the path names. */
export function parsePath(value: unknown, settingName: string, allowed: string): string {
  if (value === "")
    throw new SettingsError(notAllowedMessage(settingName, value, allowed, "empty"));
  return value as string;
}
