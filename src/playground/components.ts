import { clusterComponent } from './cluster-component.js';
import type { Component } from './component.js';
import { controllerComponent } from './controller-component.js';
import { emulatorComponent } from './emulator-component.js';

/**
 * What `npm start` runs, in start order (stopped in reverse); each contributes its own env-file variables:
 * the Kubernetes API server (KUBECONFIG), the GCS/IAM emulator with a bucket and the controller's identity
 * (TIDEMARK_GCS_ENDPOINT, TIDEMARK_EMULATOR_ADMIN_TOKEN, GCE_METADATA_HOST), and the controller itself.
 */
export const components: readonly Component[] = [clusterComponent, emulatorComponent, controllerComponent];
