/**
 * Renders native/image_layout.h, the C++ declarations of the image format's layout, from
 * lib/image/layout.ts: `npm run gen:layout` writes it, and test/image-layout.test.ts fails while
 * the committed header differs from this rendering. A constant FOO_BAR becomes kFooBar; a field
 * fooBar of a structure with prefix H becomes kHFooBar, its byte offset.
 */
import { CONSTANTS, STRUCTURES, type Constant, type Field } from './layout.js';

export const CPP_LAYOUT_PATH = 'native/image_layout.h';

export function renderCppLayout(): string {
  const lines = [
    '// Generated from lib/image/layout.ts by npm run gen:layout; do not edit.',
    "// The layout of hiberkit's on-disk image format (docs/image-format.md): constants, and the byte",
    '// offset of every field of its structures. Integers are little endian. A constant FOO_BAR of',
    '// layout.ts is kFooBar here; a field fooBar of a structure with prefix H is kHFooBar, its offset.',
    '#pragma once',
    '',
    '#include <cstddef>',
    '#include <cstdint>',
    '',
    'namespace hiberkit {',
    '',
    '// ---- Constants',
    '',
  ];
  for (const [name, constant] of Object.entries(CONSTANTS)) {
    lines.push(`// ${constant.doc}`, declareConstant(cppName(name), constant));
  }
  for (const { title, prefix, fields } of STRUCTURES) {
    lines.push('', `// ---- ${title}: byte offsets of its fields`, '');
    for (const [name, field] of Object.entries(fields)) {
      lines.push(`constexpr size_t k${prefix}${capitalized(name)} = ${field.at};  // ${describe(field)}: ${field.doc}`);
    }
  }
  lines.push('', '}  // namespace hiberkit', '');
  return lines.join('\n');
}

/** FORMAT_VERSION → kFormatVersion. */
function cppName(constantName: string): string {
  return `k${constantName.toLowerCase().split('_').map(capitalized).join('')}`;
}

function capitalized(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function declareConstant(name: string, constant: Constant): string {
  switch (constant.type) {
    case 'u32':
      return `constexpr uint32_t ${name} = ${constant.value > 0xffff ? `0x${constant.value.toString(16)}` : constant.value};`;
    case 'size':
      return `constexpr size_t ${name} = ${constant.value};`;
    case 'chars':
      // The exact bytes, without a terminating NUL: the format's fields are fixed-length.
      return `constexpr char ${name}[${constant.value.length}] = {${[...constant.value].map(charLiteral).join(', ')}};`;
  }
}

function charLiteral(char: string): string {
  const code = char.charCodeAt(0);
  if (code === 0) return "'\\0'";
  if (code < 0x20 || code > 0x7e) throw new RangeError(`the layout's text constants are printable ASCII, got code ${code}`);
  return char === "'" || char === '\\' ? `'\\${char}'` : `'${char}'`;
}

function describe(field: Field): string {
  return field.type === 'bytes' ? `${field.bytes} bytes` : field.type;
}
