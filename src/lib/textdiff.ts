/**
 * A compact line diff for --dry-run: the lines between the common head and
 * tail of two texts. Metadata changes are local, so this stays short.
 */
export function lineDiff(before: string, after: string, labels: [string, string]): string {
  const a = before.split("\n");
  const b = after.split("\n");
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  )
    tail++;
  const out = [`--- ${labels[0]}`, `+++ ${labels[1]}`, `@@ -${head + 1} +${head + 1} @@`];
  for (const l of a.slice(head, a.length - tail)) out.push(`-${l}`);
  for (const l of b.slice(head, b.length - tail)) out.push(`+${l}`);
  return `${out.join("\n")}\n`;
}
