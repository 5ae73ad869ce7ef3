/**
 * The links of a Markdown file, and the anchors its headings make, so that the docs test can
 * hold every relative link of the README and docs/ to a file that exists and a heading in it.
 */

/** Lines outside fenced code blocks, with their 1-based numbers. */
function proseLines(markdown: string): Array<{ text: string; line: number }> {
  const out: Array<{ text: string; line: number }> = [];
  let fence: string | undefined;
  markdown.split('\n').forEach((text, i) => {
    const opening = /^\s*(`{3,}|~{3,})/.exec(text);
    if (fence !== undefined) {
      if (opening !== null && text.trim().startsWith(fence) && text.trim().replace(/[`~]/g, '') === '') fence = undefined;
      return;
    }
    if (opening !== null) {
      fence = opening[1];
      return;
    }
    out.push({ text, line: i + 1 });
  });
  return out;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_\- ]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of every heading, a repeated one numbered as GitHub does (`x`, `x-1`, `x-2`). */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of proseLines(markdown)) {
    const heading = /^#{1,6}\s+(.*)$/.exec(text);
    if (heading === null) continue;
    const base = anchorOf(heading[1] ?? '');
    const count = seen.get(base);
    seen.set(base, (count ?? -1) + 1);
    anchors.add(count === undefined ? base : `${base}-${count + 1}`);
  }
  return anchors;
}

export interface Link {
  readonly line: number;
  /** The file part, relative to the linking file; '' for a link within it. */
  readonly path: string;
  /** The part after `#`, or undefined. */
  readonly anchor: string | undefined;
}

/** The relative links `[text](target)` outside code (code spans and fenced blocks); absolute URLs and mailto are left out. */
export function relativeLinks(markdown: string): Link[] {
  const links: Link[] = [];
  for (const { text, line } of proseLines(markdown)) {
    const prose = text.replace(/`[^`]*`/g, '``');
    for (const [, target = ''] of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      const hash = target.indexOf('#');
      links.push(hash === -1 ? { line, path: target, anchor: undefined } : { line, path: target.slice(0, hash), anchor: target.slice(hash + 1) });
    }
  }
  return links;
}
