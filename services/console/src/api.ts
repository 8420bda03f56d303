// Calls the Parkbase HTTP/JSON API on the page's own origin (docs/api.md), and turns its error model
// ({"error": {code, message, status, details}}) into an ApiError the pages show in the user's language, with the
// BadRequest field violations next to the fields they concern.
import { authorization } from './auth';

export interface FieldViolation {
  field: string;
  description: string;
}

export class ApiError extends Error {
  constructor(
    readonly httpStatus: number,
    // The gRPC code's name (INVALID_ARGUMENT, PERMISSION_DENIED, ...), or NETWORK when there was no answer.
    readonly status: string,
    message: string,
    readonly violations: FieldViolation[] = [],
  ) {
    super(message);
  }
}

interface ErrorBody {
  error?: { code?: number; message?: string; status?: string; details?: { '@type'?: string; fieldViolations?: FieldViolation[] }[] };
}

export function errorFromBody(httpStatus: number, body: unknown): ApiError {
  const error = (body as ErrorBody | null)?.error;
  const violations: FieldViolation[] = [];
  for (const detail of error?.details ?? []) {
    if (detail['@type']?.endsWith('google.rpc.BadRequest')) violations.push(...(detail.fieldViolations ?? []));
  }
  return new ApiError(httpStatus, error?.status ?? `HTTP_${httpStatus}`, error?.message ?? '', violations);
}

export type Query = Record<string, string | number | undefined>;

export async function call<T>(method: string, path: string, body?: unknown, query: Query = {}, key?: string): Promise<T> {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') params.set(name, String(value));
  }
  const url = params.size > 0 ? `${path}?${params}` : path;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { ...authorization(key), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
    });
  } catch (cause) {
    throw new ApiError(0, 'NETWORK', String(cause));
  }
  const text = await response.text();
  let parsed: unknown = {};
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = {};
  }
  if (!response.ok) throw errorFromBody(response.status, parsed);
  return parsed as T;
}

// The path of a tenant's collection or resource, its segments escaped.
export function tenantPath(tenant: string, ...rest: string[]): string {
  return ['/v1/tenants', tenant, ...rest].map((segment, i) => (i === 0 ? segment : encodeURIComponent(segment))).join('/');
}

// The path of a resource by its API name (tenants/acme/apps/x/versions/1.0.0), its segments escaped.
export function resourcePath(name: string): string {
  return `/v1/${name.split('/').map(encodeURIComponent).join('/')}`;
}
