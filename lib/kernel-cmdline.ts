/**
 * The kernel command line, read by the kernel's own rules (next_arg() and parse_args() in
 * kernel/params.c, and the hibernation parameters of kernel/power/hibernate.c), for both backends:
 * the native one reads /proc/cmdline, the emulator its machine's configured words.
 */

/**
 * The words of a command line as the kernel splits them: blanks separate, except inside double
 * quotes. A quote that opens the word or its value is dropped, with the quote that then ends the
 * word (`dyndbg="a b"` → `dyndbg=a b`, `"a b"` → `a b`); other quotes stay in the word.
 */
export function parseCommandLine(text: string): string[] {
  const words: string[] = [];
  let at = 0;
  for (;;) {
    while (at < text.length && /\s/.test(text[at]!)) at++;
    if (at >= text.length) return words;
    let quoted = false;
    if (text[at] === '"') {
      quoted = true;
      at++;
    }
    let inQuote = quoted;
    let end = at;
    let equals = -1;
    for (; end < text.length && (inQuote || !/\s/.test(text[end]!)); end++) {
      if (equals < 0 && text[end] === '=') equals = end;
      if (text[end] === '"') inQuote = !inQuote;
    }
    let word = text.slice(at, end);
    const endsWithQuote = word.endsWith('"');
    if (equals >= 0 && text[equals + 1] === '"') {
      const name = text.slice(at, equals + 1);
      word = name + text.slice(equals + 2, endsWithQuote && end - 1 > equals + 1 ? end - 1 : end);
    } else if (quoted && endsWithQuote) {
      word = word.slice(0, -1);
    }
    words.push(word);
    at = end;
  }
}

/** The words the kernel reads as its own parameters: those before a `--` (the rest are init's). */
function kernelParameters(words: readonly string[]): readonly string[] {
  const end = words.indexOf('--');
  return end < 0 ? words : words.slice(0, end);
}

/** The value of the last `name=value` parameter (each one overwrites the one before), if any. */
export function commandLineValue(words: readonly string[], name: string): string | undefined {
  const prefix = `${name}=`;
  let value: string | undefined;
  for (const word of kernelParameters(words)) if (word.startsWith(prefix)) value = word.slice(prefix.length);
  return value;
}

/** `noresume`: the kernel does not resume, and neither does hiberkit unless told where explicitly. */
export function resumeDisabledByCommandLine(words: readonly string[]): boolean {
  return kernelParameters(words).includes('noresume');
}

/**
 * `nohibernate`, or a `hibernate=` value starting with "no" other than the `noresume` and
 * `nocompress` options: hibernate_setup() compares those prefixes in that order.
 */
export function hibernationDisabledByCommandLine(words: readonly string[]): boolean {
  return kernelParameters(words).some((word) => {
    if (word === 'nohibernate') return true;
    if (!word.startsWith('hibernate=')) return false;
    const value = word.slice('hibernate='.length);
    return value.startsWith('no') && !value.startsWith('noresume') && !value.startsWith('nocompress');
  });
}

/**
 * `resume_offset=` in pages, read like the kernel's kstrtoull(…, 0): decimal, 0x… hexadecimal or
 * 0… octal; 0 when absent or not a number (the kernel warns and keeps 0).
 */
export function resumeOffsetFromCommandLine(words: readonly string[]): number {
  const text = commandLineValue(words, 'resume_offset');
  if (text === undefined) return 0;
  const match = /^(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))\n?$/.exec(text);
  if (!match) return 0;
  const [, hex, octal, decimal] = match;
  const value = hex !== undefined ? parseInt(hex, 16) : octal !== undefined ? parseInt(octal, 8) : Number(decimal);
  return Number.isSafeInteger(value) ? value : 0;
}
