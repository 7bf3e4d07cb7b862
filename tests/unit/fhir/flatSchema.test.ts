import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../lib/errors.ts';
import { flatEnvelopeSchema, flatEnvelopeSchemaWith } from '../../../lib/fhir/flatSchema.ts';

describe('flatEnvelopeSchemaWith', () => {
  it('sets maxItems on records and leaves the shared schema as it was', () => {
    // Prepare
    const before = JSON.stringify(flatEnvelopeSchema);

    // Act
    const schema = flatEnvelopeSchemaWith(500);

    // Assess
    expect(schema.properties.records).toEqual({ type: 'array', minItems: 1, maxItems: 500 });
    expect(schema.$id).toBe(flatEnvelopeSchema.$id);
    expect(JSON.stringify(flatEnvelopeSchema)).toBe(before);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses the limit %s', (limit) => {
    // Act
    const act = (): unknown => flatEnvelopeSchemaWith(limit);

    // Assess
    expect(act).toThrow(ConfigError);
  });
});
