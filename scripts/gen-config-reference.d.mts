// Types of scripts/gen-config-reference.mjs, for the test that imports it.
export declare const repoRoot: string;
export declare const referencePath: string;
/** The text docs/config-reference.md must have for the CRDs under root. */
export declare function generateReference(root?: string): Promise<string>;
