/** JSON for machines (--json); a readable indented form for people. */
export function printResult(value: unknown, asJson: boolean | undefined): void {
  if (asJson) {
    process.stdout.write(JSON.stringify(value) + '\n');
    return;
  }
  process.stdout.write(render(value, 0) + '\n');
}

function render(value: unknown, depth: number): string {
  const pad = '  '.repeat(depth);
  if (Array.isArray(value)) {
    if (value.length === 0) return `${pad}(none)`;
    return value.map((v) => (typeof v === 'object' && v !== null ? render(v, depth) : `${pad}- ${String(v)}`)).join(`\n${pad}--\n`);
  }
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value)
      .map(([k, v]) =>
        typeof v === 'object' && v !== null && !(Array.isArray(v) && v.every((x) => typeof x !== 'object'))
          ? `${pad}${k}:\n${render(v, depth + 1)}`
          : `${pad}${k}: ${Array.isArray(v) ? v.join(', ') || '(none)' : String(v)}`,
      )
      .join('\n');
  }
  return `${pad}${String(value)}`;
}
