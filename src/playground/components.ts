import { clusterComponent } from './cluster-component.js';
import type { Component } from './component.js';

/**
 * What `npm start` runs, in start order (stopped in reverse). Add the GCS emulator and the controller here as
 * further components; each contributes its own env-file variables.
 */
export const components: readonly Component[] = [clusterComponent];
