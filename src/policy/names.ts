// Kubernetes name and label syntax (apimachinery's validation rules), as predicates that return why a value is
// invalid, or undefined when it is valid. Pure; shared by selectors, naming and identities.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** A DNS-1123 label (namespaces): at most 63 lower-case alphanumerics or '-', alphanumeric at both ends. */
export function dns1123LabelError(value: string): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (value.length > 63) return `must be at most 63 characters (got ${value.length})`;
  if (!DNS1123_LABEL.test(value)) {
    return 'must consist of lower-case alphanumerics or "-" and start and end with an alphanumeric';
  }
  return undefined;
}

/** A DNS-1123 subdomain (most object names, e.g. SparkApplications, ServiceAccounts, Checkpoints). */
export function dns1123SubdomainError(value: string): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (value.length > 253) return `must be at most 253 characters (got ${value.length})`;
  if (!DNS1123_SUBDOMAIN.test(value)) {
    return 'must consist of lower-case alphanumerics, "-" or ".", and each "."-separated part must start and end with an alphanumeric';
  }
  return undefined;
}

/** A label key or annotation key: `[prefix/]name`, prefix a DNS subdomain, name at most 63 characters. */
export function qualifiedNameError(value: string): string | undefined {
  const parts = value.split('/');
  if (parts.length > 2) return 'must be a name with at most one "/" (an optional DNS subdomain prefix and a name)';
  const name = parts[parts.length - 1] as string;
  if (parts.length === 2) {
    const prefix = parts[0] as string;
    if (prefix.length === 0) return 'prefix before "/" must not be empty';
    const err = dns1123SubdomainError(prefix);
    if (err) return `prefix ${err}`;
  }
  if (name.length === 0) return 'name part must not be empty';
  if (name.length > 63) return `name part must be at most 63 characters (got ${name.length})`;
  if (!QUALIFIED_NAME_PART.test(name)) {
    return 'name part must consist of alphanumerics, "-", "_" or "." and start and end with an alphanumeric';
  }
  return undefined;
}

/** A label value: empty, or at most 63 alphanumerics, "-", "_" or "." with alphanumerics at both ends. */
export function labelValueError(value: string): string | undefined {
  if (value.length === 0) return undefined;
  if (value.length > 63) return `must be at most 63 characters (got ${value.length})`;
  if (!QUALIFIED_NAME_PART.test(value)) {
    return 'must consist of alphanumerics, "-", "_" or "." and start and end with an alphanumeric';
  }
  return undefined;
}
