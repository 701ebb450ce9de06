/** Plain structure of a parsed element, for exact comparisons. */
import type { XmlElement, XmlNode } from '../../src/xmpp/xml/element.ts';

export type Tree = { name: string; ns: string; attrs: Record<string, string>; children: (Tree | string)[] };
export function tree(node: XmlElement): Tree;
export function tree(node: XmlNode): Tree | string;
export function tree(node: XmlNode): Tree | string {
  if (typeof node === 'string') return node;
  return {
    name: node.name,
    ns: node.ns,
    attrs: { ...node.attrs },
    children: node.children.map((c) => tree(c)),
  };
}
