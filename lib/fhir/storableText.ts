/**
 * Text PostgreSQL cannot store: NUL (U+0000), which `text` refuses, and lone surrogates, which
 * have no UTF-8 form. JSON carries both ("\u0000", "\ud800"), so Validate looks at every string
 * of a record, property names included: such a record is rejected, never a failed batch.
 */
import { isJsonObject } from '../json.ts';

/** A string or property name that cannot be stored, by its JSON Pointer in the record. */
export interface UnstorableText {
  /** The string's location, or for a property name, the property's own location. */
  readonly instancePath: string;
  readonly keyword: 'characters';
  readonly message: string;
}

const NUL = '\u0000';
const IN_VALUE = 'must not hold NUL (U+0000) or an unpaired surrogate';
const IN_NAME = 'must not be named with NUL (U+0000) or an unpaired surrogate';

export function isStorableText(text: string): boolean {
  return text.isWellFormed() && !text.includes(NUL);
}

function pointerSegment(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Whether every string and property name in `value` can be stored: no paths built, no allocation per member. */
function isStorableDocument(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const node = pending.pop();
    if (typeof node === 'string') {
      if (!isStorableText(node)) return false;
    } else if (Array.isArray(node)) {
      for (const item of node) pending.push(item);
    } else if (isJsonObject(node)) {
      for (const key in node) {
        if (!isStorableText(key)) return false;
        pending.push(node[key]);
      }
    }
  }
  return true;
}

/** Every string and property name in `value` that PostgreSQL cannot store, in document order. */
export function unstorableTexts(value: unknown): UnstorableText[] {
  // Nearly every record is clean: only a bad one pays for the walk that names paths.
  if (isStorableDocument(value)) return [];
  const found: UnstorableText[] = [];
  // Depth-first with an explicit stack: how deep a record nests is the sender's choice.
  const pending: { readonly node: unknown; readonly path: string }[] = [{ node: value, path: '' }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { node, path } = next;
    if (typeof node === 'string') {
      if (!isStorableText(node))
        found.push({ instancePath: path, keyword: 'characters', message: IN_VALUE });
    } else if (Array.isArray(node)) {
      for (let index = node.length - 1; index >= 0; index -= 1) {
        pending.push({ node: node[index], path: `${path}/${index}` });
      }
    } else if (isJsonObject(node)) {
      const entries = Object.entries(node);
      for (let index = entries.length - 1; index >= 0; index -= 1) {
        const [key, child] = entries[index] ?? ['', undefined];
        const childPath = `${path}/${pointerSegment(key)}`;
        if (!isStorableText(key)) {
          found.push({ instancePath: childPath, keyword: 'characters', message: IN_NAME });
        }
        pending.push({ node: child, path: childPath });
      }
    }
  }
  return found;
}
