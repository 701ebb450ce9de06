/** XEP-0156 host-meta documents for tests that serve them. */

/** An XRD host-meta with one Link per `rel → href`. */
export function xrd(links: Record<string, string>): string {
  return [
    "<?xml version='1.0' encoding='utf-8'?>",
    "<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>",
    ...Object.entries(links).map(([rel, href]) => `  <Link rel="${rel}" href="${href}"/>`),
    '</XRD>',
    '',
  ].join('\n');
}
