/**
 * A directory listing as a plain HTML page, as Go's FileServer writes one: entries sorted
 * by name, directories with a trailing slash. Every name is percent-encoded in the link
 * and HTML-escaped in the text, so a file called `<script>` or `a"b` stays a name.
 */
import { readdir, realpath, stat } from "node:fs/promises";
import { isAbsolute, join, relative, sep } from "node:path";
import { formatBytes } from "./style.js";

export function escapeHTML(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export interface ListingEntry {
  name: string;
  dir: boolean;
  size: number | null;
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/**
 * The entries of `dir`. A symlink is listed as what it points to when that is inside
 * `realRoot`; one leading out (or dangling) is listed by name only, so the page says
 * nothing about files outside the served tree.
 */
export async function readListing(dir: string, realRoot: string): Promise<ListingEntry[]> {
  const names = (await readdir(dir)).sort();
  return Promise.all(
    names.map(async (name): Promise<ListingEntry> => {
      const path = join(dir, name);
      try {
        if (!inside(realRoot, await realpath(path))) return { name, dir: false, size: null };
        const st = await stat(path);
        return { name, dir: st.isDirectory(), size: st.isFile() ? st.size : null };
      } catch {
        return { name, dir: false, size: null };
      }
    }),
  );
}

/** `urlPath`: the decoded path of the directory, ending in "/". */
export function listingPage(urlPath: string, entries: readonly ListingEntry[]): string {
  const title = `Index of ${escapeHTML(urlPath)}`;
  const rows = entries.map((e) => {
    const shown = e.dir ? `${e.name}/` : e.name;
    const href = encodeURIComponent(e.name) + (e.dir ? "/" : "");
    const size = e.size === null ? "" : ` <small>${formatBytes(e.size)}</small>`;
    return `<li><a href="./${escapeHTML(href)}">${escapeHTML(shown)}</a>${size}</li>`;
  });
  if (urlPath !== "/") rows.unshift(`<li><a href="../">../</a></li>`);
  return `<!doctype html>
<meta charset="utf-8">
<title>${title}</title>
<h1>${title}</h1>
<ul>
${rows.join("\n")}
</ul>
`;
}
