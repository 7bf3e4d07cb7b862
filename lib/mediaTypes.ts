/** The media types and body limit of the ingest API, shared by the API, the queue and the CLI. */
export const JSON_MEDIA_TYPE = 'application/json';
export const FHIR_JSON_MEDIA_TYPE = 'application/fhir+json';
export const NDJSON_MEDIA_TYPE = 'application/fhir+ndjson';

/** API Gateway's own payload limit: a larger body never reaches a Lambda in AWS. */
export const MAX_INGEST_BODY_BYTES = 6 * 1024 * 1024;
