// The CRDs in crds/ read at run time: their openAPIV3Schemas are what the offline validator (./validate.ts) checks
// objects against, so that code without an API server (e.g. `tidemark plan` over YAML files) refuses exactly what
// the API server would, with the same messages.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** One x-kubernetes-validations entry. */
export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/** The subset of a structural schema (apiextensions.k8s.io/v1 JSONSchemaProps) Tidemark's CRDs use. */
export interface SchemaNode {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  format?: string;
  default?: unknown;
  enum?: unknown[];
  properties?: Record<string, SchemaNode>;
  additionalProperties?: SchemaNode | boolean;
  items?: SchemaNode;
  required?: string[];
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  maxItems?: number;
  maxProperties?: number;
  'x-kubernetes-validations'?: ValidationRule[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
}

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
}

/** The parts of a CustomResourceDefinition Tidemark reads. */
export interface CrdDocument {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    group: string;
    scope: 'Cluster' | 'Namespaced';
    names: {
      kind: string;
      listKind: string;
      plural: string;
      singular: string;
      shortNames?: string[];
      categories?: string[];
    };
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: { status?: Record<string, never> };
      additionalPrinterColumns?: PrinterColumn[];
      schema: { openAPIV3Schema: SchemaNode };
    }>;
  };
}

export type TidemarkKind = 'CheckpointPolicy' | 'Checkpoint';

/** The CRD files, relative to the repository root (src/api and dist/api both sit two levels below it). */
export const CRD_FILES: Readonly<Record<TidemarkKind, string>> = {
  CheckpointPolicy: 'crds/tidemark.dev_checkpointpolicies.yaml',
  Checkpoint: 'crds/tidemark.dev_checkpoints.yaml',
};

/** Absolute path of a kind's CRD file. */
export function crdPath(kind: TidemarkKind): string {
  return fileURLToPath(new URL(`../../${CRD_FILES[kind]}`, import.meta.url));
}

const cache = new Map<TidemarkKind, CrdDocument>();

/** The CRD of a kind, parsed once (throws a clear error when the file is missing or not a CRD). */
export function loadCrd(kind: TidemarkKind): CrdDocument {
  const cached = cache.get(kind);
  if (cached) return cached;
  const path = crdPath(kind);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the ${kind} CRD at ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const doc = parse(text) as CrdDocument | null;
  if (doc?.kind !== 'CustomResourceDefinition' || doc.spec?.names?.kind !== kind) {
    throw new Error(`${path} is not the CustomResourceDefinition of ${kind}`);
  }
  if (doc.spec.versions.length !== 1) throw new Error(`${path}: expected exactly one version`);
  cache.set(kind, doc);
  return doc;
}

/** The openAPIV3Schema of a kind's only version. */
export function crdSchema(kind: TidemarkKind): SchemaNode {
  const version = loadCrd(kind).spec.versions[0];
  if (!version) throw new Error(`the ${kind} CRD has no version`);
  return version.schema.openAPIV3Schema;
}
