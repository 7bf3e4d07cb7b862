/** A JSON object, not an array or null: what parsed input must be before its members are read. */
export function isJsonObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * JSON with every object's members sorted by name (UTF-16 code units, as `<` orders them)
 * and undefined members left out: equal content, equal text, whatever order it arrived in.
 * Digests of stored records are taken over this text, so its output must never change:
 * tests/unit/json.test.ts holds it to the original definition.
 */
export function canonicalJson(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  if (Array.isArray(value)) {
    let text = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) text += ',';
      // As `[undefined].map(JSON.stringify).join()` has it: nothing between the commas.
      text += canonicalJson(value[i]) ?? '';
    }
    return `${text}]`;
  }
  const record = value as Readonly<Record<string, unknown>>;
  let text = '{';
  let first = true;
  // Array.prototype.sort without a comparator orders strings by UTF-16 code units, as `<` does.
  for (const name of Object.keys(record).sort()) {
    const member = record[name];
    if (member === undefined) continue;
    text += `${first ? '' : ','}${JSON.stringify(name)}:${canonicalJson(member)}`;
    first = false;
  }
  return `${text}}`;
}
