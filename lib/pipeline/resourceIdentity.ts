/**
 * How a stored FHIR resource is known. A sender's ids are its own: two senders may both send
 * `Encounter/1`. So a resource's source identity is (namespace, type, sender's id), the namespace
 * being the sender (the run's actor), and our id is derived from it: the same sender sending the
 * same `Type/id` again updates the same row, and another sender's `Type/id` is another row.
 */
import { blindIndex, deterministicId } from '../crypto/blindIndex.ts';
import type { SecretKeyMaterial } from '../crypto/fieldCipher.ts';

const RESOURCE_ID_PURPOSE = 'fhir-resource';

/** The sender a run's resources and references belong to. */
export function sourceNamespace(run: { readonly actor: string }): string {
  return run.actor;
}

/**
 * Our id of the resource a sender names by `sourceKey` (`Type/<id>`, else its fullUrl, else a
 * digest of its content), whether or not it is stored yet.
 */
export function resourceIdOf(
  indexKey: SecretKeyMaterial,
  namespace: string,
  sourceKey: string,
): string {
  return deterministicId(indexKey, RESOURCE_ID_PURPOSE, `${namespace}\n${sourceKey}`);
}

/**
 * The blind index of a key a sender names a resource by (`Patient/<id>`, a fullUrl,
 * `Practitioner?identifier=system|value`), within the sender's namespace.
 */
export function referenceIndex(
  indexKey: SecretKeyMaterial,
  namespace: string,
  key: string,
): Buffer {
  return blindIndex(indexKey, 'reference', `${namespace}\n${key}`);
}
