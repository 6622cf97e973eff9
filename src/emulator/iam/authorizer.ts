// The Authorizer the HTTP core calls on every request: tokens → members, and permission checks that answer
// 403 with Google's body and message.
import { type Authorizer, HttpError, type ResourceRef } from '../contract.js';
import { displayMember } from './members.js';
import type { IamState } from './state.js';

/** What Google calls the resource in a denial: `... access to the Google Cloud Storage <noun>.` */
export function resourceNoun(permission: string, resource: ResourceRef): string {
  if (permission === 'storage.buckets.create' || permission === 'storage.buckets.list') return 'Google Cloud project';
  if (resource.managedFolder !== undefined) return 'Google Cloud Storage managed folder';
  if (resource.object !== undefined && permission.startsWith('storage.objects.')) return 'Google Cloud Storage object';
  return 'Google Cloud Storage bucket';
}

/** Google's 403 text, e.g. `a@p.iam.gserviceaccount.com does not have storage.objects.get access to ...`. */
export function denialMessage(member: string, permission: string, resource: ResourceRef): string {
  return (
    `${displayMember(member)} does not have ${permission} access to the ${resourceNoun(permission, resource)}. ` +
    `Permission '${permission}' denied on resource (or it may not exist).`
  );
}

export function denial(member: string, permission: string, resource: ResourceRef): HttpError {
  return new HttpError(403, denialMessage(member, permission, resource), 'forbidden');
}

export function createAuthorizer(state: IamState): Authorizer {
  return {
    authenticate: (authorization) => state.tokens.authenticate(authorization),
    allowed: (member, permission, resource) => state.allowed(member, permission, { kind: 'storage', ref: resource }),
    require(member, permission, resource) {
      if (!state.allowed(member, permission, { kind: 'storage', ref: resource })) {
        throw denial(member, permission, resource);
      }
    },
  };
}
