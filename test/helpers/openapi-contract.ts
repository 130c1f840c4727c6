/**
 * Checks real responses against an OpenAPI 3.1 document: the status must be
 * one the document lists for that path and method, and the body must be
 * valid (ajv, JSON Schema 2020-12) against that response's schema. A method
 * the document does not list on a known path must be the documented refusal
 * (405 on the public API, 404 on the admin API) with the error body.
 * Every check is recorded, so a test can ask which operations it never hit.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

type Json = Record<string, unknown>;
export interface OpenApiDoc {
  paths: Record<string, Record<string, Json>>;
  components?: Json;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

function templateRegex(template: string): RegExp {
  const escaped = template
    .split(/(\{[^}]+\})/)
    .map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${escaped}$`);
}

export interface ContractResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export class ContractChecker {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly templates: { template: string; re: RegExp; literal: number }[];
  /** `METHOD template status` of every response checked. */
  readonly seen = new Set<string>();

  constructor(
    private readonly doc: OpenApiDoc,
    /** What a method the path does not list answers: 405 on the public API, 404 on the admin API. */
    private readonly undocumentedMethodStatus: number,
  ) {
    // A literal segment beats a parameter: /v1/batch before /v1/support-grants/{id}.
    this.templates = Object.keys(doc.paths)
      .map((template) => ({ template, re: templateRegex(template), literal: template.replace(/\{[^}]+\}/g, '').length }))
      .sort((a, b) => b.literal - a.literal);
  }

  templateOf(path: string): string | undefined {
    const bare = path.split('?')[0] ?? path;
    return this.templates.find((t) => t.re.test(bare))?.template;
  }

  private validator(key: string, schema: unknown): ValidateFunction {
    let v = this.validators.get(key);
    if (!v) {
      // The document's components ride along so `#/components/schemas/…` resolves.
      v = this.ajv.compile({ ...(schema as Json), components: this.doc.components });
      this.validators.set(key, v);
    }
    return v;
  }

  /** Throws with the reason when the response is not what the document says. */
  check(method: string, path: string, res: ContractResponse): void {
    const template = this.templateOf(path);
    if (!template) throw new Error(`${method} ${path}: no path in the document matches`);
    const m = method.toLowerCase();
    const item = this.doc.paths[template] ?? {};
    const op = item[m] as { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> } | undefined;
    const label = `${method.toUpperCase()} ${template} ${res.status}`;
    this.seen.add(label);
    if (!op) {
      if (res.status !== this.undocumentedMethodStatus) {
        throw new Error(`${method} ${path}: the document lists no ${m} here, so the answer must be ${this.undocumentedMethodStatus}, got ${res.status}`);
      }
      this.validateBody(`undocumented ${res.status}`, { schema: { $ref: `#/components/schemas/Error${res.status}` } }, res, label);
      return;
    }
    const response = op.responses?.[String(res.status)];
    if (!response) {
      throw new Error(`${label}: status not in the document (listed: ${Object.keys(op.responses ?? {}).join(', ')}); body ${res.text.slice(0, 300)}`);
    }
    if (!response.content) {
      if (res.text.length > 0) throw new Error(`${label}: the document says no body, got ${res.text.slice(0, 200)}`);
      return;
    }
    const type = String(res.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
    const media = response.content[type];
    if (!media) throw new Error(`${label}: content type ${type} not in the document (${Object.keys(response.content).join(', ')})`);
    this.validateBody(`${m} ${template} ${res.status} ${type}`, media, res, label);
  }

  /**
   * A request the server accepted must be one its document allows: the body
   * valid against the operation's request schema for its content type.
   */
  checkAcceptedRequest(method: string, path: string, contentType: string, body: unknown): void {
    const template = this.templateOf(path);
    const op = template ? (this.doc.paths[template]?.[method.toLowerCase()] as { requestBody?: { content?: Record<string, { schema?: unknown }> } } | undefined) : undefined;
    const type = contentType.split(';')[0]?.trim() ?? '';
    const schema = op?.requestBody?.content?.[type]?.schema;
    if (schema === undefined) throw new Error(`${method} ${path}: the server accepted a ${type} body the document does not describe`);
    const validate = this.validator(`request ${method} ${template} ${type}`, schema);
    if (!validate(body)) throw new Error(`${method} ${path}: the server accepted a body its document refuses: ${this.ajv.errorsText(validate.errors)}`);
  }

  /** A path the document does not list: the answer must be 404 with the error body. */
  checkUnlisted(method: string, path: string, res: ContractResponse): void {
    const template = this.templateOf(path);
    if (template) throw new Error(`${method} ${path} is in the document as ${template}`);
    if (res.status !== 404) throw new Error(`${method} ${path}: not in the document, so the answer must be 404, got ${res.status}`);
    this.validateBody('unlisted 404', { schema: { $ref: '#/components/schemas/Error404' } }, res, `${method} ${path} 404`);
  }

  private validateBody(key: string, media: { schema?: unknown }, res: ContractResponse, label: string): void {
    const type = String(res.headers['content-type'] ?? '');
    if (!type.startsWith('application/json')) return; // text and JSON lines: the type was checked, the schema is a string
    if (media.schema === undefined) return;
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch {
      throw new Error(`${label}: not JSON: ${res.text.slice(0, 200)}`);
    }
    const validate = this.validator(key, media.schema);
    if (!validate(body)) {
      throw new Error(`${label}: body does not match the document: ${this.ajv.errorsText(validate.errors)}\nbody: ${res.text.slice(0, 600)}`);
    }
  }

  /** Documented answers (METHOD template status) no checked response gave: what the test leaves unproven. */
  unexercised(): string[] {
    const out: string[] = [];
    for (const [template, item] of Object.entries(this.doc.paths)) {
      for (const m of METHODS) {
        const op = item[m] as { responses?: Record<string, unknown> } | undefined;
        for (const status of Object.keys(op?.responses ?? {})) {
          const label = `${m.toUpperCase()} ${template} ${status}`;
          if (!this.seen.has(label)) out.push(label);
        }
      }
    }
    return out;
  }

  /** Documented operations (METHOD template) no checked response came from with a 2xx. */
  operationsWithoutSuccess(): string[] {
    const missing: string[] = [];
    for (const [template, item] of Object.entries(this.doc.paths)) {
      for (const m of METHODS) {
        if (!item[m]) continue;
        const hit = [...this.seen].some((s) => s.startsWith(`${m.toUpperCase()} ${template} 2`));
        if (!hit) missing.push(`${m.toUpperCase()} ${template}`);
      }
    }
    return missing;
  }
}
