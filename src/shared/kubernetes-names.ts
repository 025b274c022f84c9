/**
 * The syntax of Kubernetes names, as the API server checks them (k8s.io/apimachinery
 * validation), written once for code and for schemas. Patterns are strings that read the same
 * in ECMAScript and RE2, so a schema can carry them to the API server or to Helm unchanged.
 */

/** An RFC 1123 label: namespaces, most object names' parts; at most 63 characters. */
export const DNS_1123_LABEL_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
export const DNS_1123_LABEL_MAX_LENGTH = 63;

/** An RFC 1123 subdomain: names of Leases, ConfigMaps and most objects; at most 253. */
export const DNS_1123_SUBDOMAIN_PATTERN =
  "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
export const DNS_1123_SUBDOMAIN_MAX_LENGTH = 253;

/** An RFC 1035 label (starts with a letter): Service port names. */
export const DNS_1035_LABEL_PATTERN = "^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$";

/**
 * A port name as Kubernetes accepts one (IANA_SVC_NAME): lowercase letters and digits, single
 * hyphens inside, at least one letter, at most 15 characters. RE2 has no lookahead, so "at least
 * one letter" is spelled as digit-only words, then a word holding a letter, then any words.
 */
export const PORT_NAME_PATTERN = "^([0-9]+-)*[0-9]*[a-z][a-z0-9]*(-[a-z0-9]+)*$";
export const MAX_PORT_NAME_LENGTH = 15;

/** The name part of a label key, and a non-empty label value: at most 63 characters. */
export const LABEL_NAME_PATTERN = "^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$";
export const LABEL_NAME_MAX_LENGTH = 63;

/** A label value: empty, or a label name. */
export const LABEL_VALUE_PATTERN = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";

/** An optional DNS subdomain and "/", as label keys and condition types begin. */
const SUBDOMAIN_PREFIX = "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?";

/**
 * A label key: an optional subdomain prefix and a name of at most 63 characters. The pattern
 * cannot hold the prefix to 253 characters; code that checks keys does that after it.
 */
export const LABEL_KEY_PATTERN = `${SUBDOMAIN_PREFIX}[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`;

/** A qualified name of any length after the prefix, such as a condition type. */
export const QUALIFIED_NAME_PATTERN = `${SUBDOMAIN_PREFIX}(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$`;

export const DNS_1123_LABEL = new RegExp(DNS_1123_LABEL_PATTERN);
export const DNS_1123_SUBDOMAIN = new RegExp(DNS_1123_SUBDOMAIN_PATTERN);
export const LABEL_NAME = new RegExp(LABEL_NAME_PATTERN);
