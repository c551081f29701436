// The OCF meta-data document (`<agent> meta-data`, SPEC §6.1) as data: the agent's descriptions,
// its parameters and its actions with their default timeouts. The XML is parsed by a small parser
// of our own that covers what resource agents print (declaration, DOCTYPE, comments, CDATA,
// elements with quoted attributes, character and predefined entities). It never throws: malformed
// input gives an error value that names what is wrong.

export interface MetaParameter {
  name: string;
  required: boolean;
  unique: boolean;
  /** `content type` ("string", "integer", "boolean", "select", ...). */
  type: string;
  default?: string;
  /** For `type: select`: the allowed values. */
  options?: string[];
  deprecated: boolean;
  shortdesc: string;
  longdesc: string;
}

export interface MetaAction {
  name: string;
  timeoutMs?: number;
  intervalMs?: number;
  depth?: number;
  /** The timeout as the agent wrote it ("20s", "20"). */
  timeout?: string;
  interval?: string;
}

export interface AgentMetaData {
  name: string;
  version?: string;
  shortdesc: string;
  longdesc: string;
  parameters: MetaParameter[];
  actions: MetaAction[];
}

export type MetaDataResult = { ok: true; meta: AgentMetaData } | { ok: false; error: string };

// ---- a minimal XML parser ---------------------------------------------------------------------

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
}
export type XmlNode = XmlElement | string;

export class XmlError extends Error {
  override name = 'XmlError';
}

const NAME_RE = /[A-Za-z_:][A-Za-z0-9_:.-]*/y;
const MAX_DEPTH = 64;
const MAX_INPUT = 1 << 20;

/** Parses one XML document into its root element. Throws XmlError (with a line number) on bad input. */
export function parseXml(text: string): XmlElement {
  if (text.length > MAX_INPUT) throw new XmlError(`document larger than ${MAX_INPUT} characters`);
  let pos = 0;
  const lineAt = (p: number): number => text.slice(0, p).split('\n').length;
  const fail = (what: string, at = pos): never => {
    throw new XmlError(`${what} at line ${lineAt(at)}`);
  };
  const skipUntil = (end: string, what: string): void => {
    const at = text.indexOf(end, pos);
    if (at < 0) fail(`unterminated ${what}`);
    pos = at + end.length;
  };
  const skipWs = (): void => {
    while (pos < text.length && /\s/.test(text[pos])) pos++;
  };
  const readName = (): string => {
    NAME_RE.lastIndex = pos;
    const m = NAME_RE.exec(text);
    if (!m) fail('expected a name');
    pos += m![0].length;
    return m![0];
  };
  /** Skips the prolog/epilog items: whitespace, <?...?>, <!-- -->, <!DOCTYPE ...>. */
  const skipMisc = (): void => {
    for (;;) {
      skipWs();
      if (text.startsWith('<?', pos)) skipUntil('?>', 'processing instruction');
      else if (text.startsWith('<!--', pos)) skipUntil('-->', 'comment');
      else if (text.startsWith('<!DOCTYPE', pos)) {
        // An internal subset ([...]) may hold '>' characters.
        const bracket = text.indexOf('[', pos);
        const close = text.indexOf('>', pos);
        if (bracket >= 0 && bracket < close) {
          pos = bracket;
          skipUntil(']', 'DOCTYPE');
        }
        skipUntil('>', 'DOCTYPE');
      } else return;
    }
  };
  const parseElement = (depth: number): XmlElement => {
    if (depth > MAX_DEPTH) fail('elements nested too deeply');
    if (text[pos] !== '<') fail('expected an element');
    pos++;
    const name = readName();
    const attrs: Record<string, string> = {};
    for (;;) {
      const before = pos;
      skipWs();
      if (text.startsWith('/>', pos)) {
        pos += 2;
        return { name, attrs, children: [] };
      }
      if (text[pos] === '>') {
        pos++;
        break;
      }
      if (pos === before) fail(`expected an attribute or the end of <${name}>`);
      const attr = readName();
      skipWs();
      if (text[pos] !== '=') fail(`expected = after attribute ${attr}`);
      pos++;
      skipWs();
      const quote = text[pos];
      if (quote !== '"' && quote !== "'") fail(`attribute ${attr} value is not quoted`);
      const end = text.indexOf(quote, pos + 1);
      if (end < 0) fail(`unterminated value of attribute ${attr}`);
      attrs[attr] = decodeEntities(text.slice(pos + 1, end), lineAt(pos));
      pos = end + 1;
    }
    const children: XmlNode[] = [];
    let textBuf = '';
    const flush = (): void => {
      if (textBuf !== '') children.push(textBuf);
      textBuf = '';
    };
    for (;;) {
      if (pos >= text.length) fail(`<${name}> is not closed`);
      const lt = text.indexOf('<', pos);
      if (lt < 0) fail(`<${name}> is not closed`);
      if (lt > pos) {
        textBuf += decodeEntities(text.slice(pos, lt), lineAt(pos));
        pos = lt;
      }
      if (text.startsWith('</', pos)) {
        pos += 2;
        const closing = readName();
        if (closing !== name) fail(`</${closing}> closes <${name}>`);
        skipWs();
        if (text[pos] !== '>') fail(`expected > after </${closing}`);
        pos++;
        flush();
        return { name, attrs, children };
      }
      if (text.startsWith('<!--', pos)) skipUntil('-->', 'comment');
      else if (text.startsWith('<![CDATA[', pos)) {
        const start = pos + 9;
        skipUntil(']]>', 'CDATA section');
        textBuf += text.slice(start, pos - 3);
      } else if (text.startsWith('<?', pos)) skipUntil('?>', 'processing instruction');
      else {
        flush();
        children.push(parseElement(depth + 1));
      }
    }
  };
  skipMisc();
  if (pos >= text.length) fail('no root element');
  const root = parseElement(0);
  skipMisc();
  if (pos < text.length) fail('content after the root element');
  return root;
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(s: string, line: number): string {
  if (!s.includes('&')) return s;
  return s.replace(/&([^;\s&]{1,10});/g, (whole, ent: string) => {
    if (ent in ENTITIES) return ENTITIES[ent];
    const code = ent.startsWith('#x') || ent.startsWith('#X') ? parseInt(ent.slice(2), 16) : ent.startsWith('#') ? parseInt(ent.slice(1), 10) : NaN;
    if (Number.isInteger(code) && code > 0 && code <= 0x10ffff) return String.fromCodePoint(code);
    throw new XmlError(`unknown entity ${whole} at line ${line}`);
  });
}

// ---- OCF meta-data ----------------------------------------------------------------------------

const elements = (e: XmlElement, name: string): XmlElement[] => e.children.filter((c): c is XmlElement => typeof c !== 'string' && c.name === name);
const first = (e: XmlElement, name: string): XmlElement | undefined => elements(e, name)[0];

/** The text content of an element (nested elements' text included), whitespace-normalised. */
export function textOf(e: XmlElement | undefined): string {
  if (!e) return '';
  const parts: string[] = [];
  const walk = (n: XmlNode): void => {
    if (typeof n === 'string') parts.push(n);
    else n.children.forEach(walk);
  };
  walk(e);
  return parts.join('').replace(/\s+/g, ' ').trim();
}

/** The English description among `<shortdesc lang=..>` siblings (or the first). */
function desc(e: XmlElement, name: string): string {
  const all = elements(e, name);
  return textOf(all.find((d) => (d.attrs.lang ?? 'en') === 'en') ?? all[0]);
}

const truthy = (v: string | undefined): boolean => v === '1' || v === 'true' || v === 'yes';

/**
 * An OCF duration attribute in ms: "20s", "20", "2m", "500ms", "1h" (Pacemaker's units; a bare
 * number is seconds). undefined when absent or not understood.
 */
export function ocfDurationMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|msec|s|sec|m|min|h|hr)?\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = (m[2] ?? 's').toLowerCase();
  const factor = unit.startsWith('ms') ? 1 : unit.startsWith('s') ? 1000 : unit.startsWith('m') ? 60_000 : 3_600_000;
  return Math.round(Number(m[1]) * factor);
}

/** Parses an agent's meta-data output. */
export function parseMetaData(xml: string): MetaDataResult {
  let root: XmlElement;
  try {
    root = parseXml(xml.trim());
  } catch (err) {
    return { ok: false, error: `meta-data is not well-formed XML: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (root.name !== 'resource-agent') return { ok: false, error: `meta-data root element is <${root.name}>, not <resource-agent>` };
  const parameters: MetaParameter[] = [];
  const paramsEl = first(root, 'parameters');
  for (const p of paramsEl ? elements(paramsEl, 'parameter') : []) {
    const name = p.attrs.name;
    if (!name) continue;
    const content = first(p, 'content');
    const options = content ? elements(content, 'option').map((o) => o.attrs.value).filter((v): v is string => v !== undefined) : [];
    parameters.push({
      name,
      required: truthy(p.attrs.required),
      unique: truthy(p.attrs.unique),
      type: content?.attrs.type ?? 'string',
      ...(content?.attrs.default !== undefined ? { default: content.attrs.default } : {}),
      ...(options.length > 0 ? { options } : {}),
      deprecated: truthy(p.attrs.deprecated) || first(p, 'deprecated') !== undefined,
      shortdesc: desc(p, 'shortdesc'),
      longdesc: desc(p, 'longdesc'),
    });
  }
  const actions: MetaAction[] = [];
  const actionsEl = first(root, 'actions');
  for (const a of actionsEl ? elements(actionsEl, 'action') : []) {
    if (!a.attrs.name) continue;
    const depth = a.attrs.depth !== undefined && /^\d+$/.test(a.attrs.depth) ? Number(a.attrs.depth) : undefined;
    actions.push({
      name: a.attrs.name,
      ...(a.attrs.timeout !== undefined ? { timeout: a.attrs.timeout, timeoutMs: ocfDurationMs(a.attrs.timeout) } : {}),
      ...(a.attrs.interval !== undefined ? { interval: a.attrs.interval, intervalMs: ocfDurationMs(a.attrs.interval) } : {}),
      ...(depth !== undefined ? { depth } : {}),
    });
  }
  const version = textOf(first(root, 'version'));
  return {
    ok: true,
    meta: {
      name: root.attrs.name ?? '',
      ...(version ? { version } : {}),
      shortdesc: desc(root, 'shortdesc'),
      longdesc: desc(root, 'longdesc'),
      parameters,
      actions,
    },
  };
}
