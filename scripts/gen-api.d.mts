// Types of scripts/gen-api.mjs, for the tests that import it.
export declare const repoRoot: string;
export declare const generatedPath: string;
/** The openAPIV3Schema of the single version of a CRD file (path relative to root). */
export declare function loadSchema(file: string, root?: string): Promise<Record<string, unknown>>;
/** The text src/api/generated.ts must have for the CRDs under root. */
export declare function generateApiSource(root?: string): Promise<string>;
