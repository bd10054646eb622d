/**
 * The Groundwork API client: openapi-fetch typed by `schema.d.ts`, which openapi-typescript
 * generates from the repository's committed `openapi.json` (`make client`).
 *
 * Every call resolves to `{ data, error, response }`: `data` is the typed success body (set
 * exactly when `response.ok`), `error` the error envelope (below) and `response` the raw
 * `Response`. `error` is typed `ErrorEnvelope | undefined`: the schema also declares 414, which
 * the HTTP server answers before the API, without the envelope. Only a network failure rejects.
 * `unwrap()` turns a call into its success body or an `ApiError`.
 */
import createClient, { type Client, type ClientOptions, type Middleware } from "openapi-fetch";

import type { components, paths } from "./schema.js";

export type { components, operations, paths } from "./schema.js";

/** Every named shape of the API, e.g. `Schemas["ProjectOutput"]`. */
export type Schemas = components["schemas"];

/** The body of every error response: `{"error": {"code", "message", "details"}}`. */
export type ErrorEnvelope = components["schemas"]["ErrorEnvelope"];

/** The inside of the envelope: a stable `code`, a human `message` and `details`. */
export type ErrorBody = ErrorEnvelope["error"];

/**
 * The codes the API answers with (the contract's error table). The schema types `code` as a
 * string, so that a code added later does not break older clients; compare against these.
 */
export const ERROR_CODES = [
  "BAD_REQUEST",
  "AUTHENTICATION_ERROR",
  "AUTHORIZATION_ERROR",
  "NOT_FOUND",
  "METHOD_NOT_ALLOWED",
  "CONFLICT",
  "PAYLOAD_TOO_LARGE",
  "UNSUPPORTED_MEDIA_TYPE",
  "VALIDATION_ERROR",
  "RATE_LIMIT_EXCEEDED",
  "QUOTA_EXCEEDED",
  "INTERNAL_ERROR",
  "EXTERNAL_SERVICE_ERROR",
  "SERVICE_UNAVAILABLE",
  "GATEWAY_TIMEOUT",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** One invalid field of a VALIDATION_ERROR (`details.errors[]`). */
export interface FieldError {
  field: string;
  message: string;
  code: string;
}

/** The typed client: `client.GET("/api/v1/app/projects", { params: { query: { limit: 20 } } })`. */
export type GroundworkClient = Client<paths>;

/** A bearer token, or a function that returns the current one (called before every request). */
export type TokenSource = string | (() => string | Promise<string>);

/** True when `value` is the API's error envelope (for bodies that did not come typed). */
export function isErrorEnvelope(value: unknown): value is ErrorEnvelope {
  if (typeof value !== "object" || value === null || !("error" in value)) {
    return false;
  }
  const error: unknown = value.error;
  return (
    typeof error === "object" &&
    error !== null &&
    "code" in error &&
    typeof error.code === "string" &&
    "message" in error &&
    typeof error.message === "string"
  );
}

/** The invalid fields of a VALIDATION_ERROR envelope, empty for any other error. */
export function fieldErrors(envelope: ErrorEnvelope): FieldError[] {
  const errors = envelope.error.details["errors"];
  if (envelope.error.code !== "VALIDATION_ERROR" || !Array.isArray(errors)) {
    return [];
  }
  return errors.filter(
    (item): item is FieldError =>
      typeof item === "object" &&
      item !== null &&
      typeof item.field === "string" &&
      typeof item.message === "string" &&
      typeof item.code === "string",
  );
}

/**
 * A failed call: its HTTP status and, when the body is the API's error envelope, the envelope.
 * A body that is not one (an empty body, a proxy's error page) leaves `envelope` null.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly envelope: ErrorEnvelope | null;
  readonly body: unknown;

  constructor(status: number, body: unknown) {
    const envelope = isErrorEnvelope(body) ? body : null;
    super(envelope ? `${envelope.error.code}: ${envelope.error.message}` : `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.envelope = envelope;
    this.body = body;
  }

  /** The envelope's code (`VALIDATION_ERROR`, `NOT_FOUND`...), null without an envelope. */
  get code(): string | null {
    return this.envelope?.error.code ?? null;
  }
}

/**
 * The success body of a call, or an `ApiError`:
 * `const page = await unwrap(client.GET("/api/v1/app/projects"))`.
 */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) {
    throw new ApiError(response.status, error);
  }
  return data as T;
}

/**
 * A client for the API at `baseUrl` (the server's origin, e.g. `https://api.example.com`: the
 * paths already start with `/api/v1`), sending `Authorization: Bearer <token>` on every request.
 * Pass a function as `token` to supply a fresh one (the identity provider's SDK refreshes it).
 */
export function createGroundworkClient(
  baseUrl: string,
  token: TokenSource,
  options: Omit<ClientOptions, "baseUrl"> = {},
): GroundworkClient {
  const client = createClient<paths>({ ...options, baseUrl: baseUrl.replace(/\/+$/, "") });
  const auth: Middleware = {
    async onRequest({ request }) {
      const value = typeof token === "function" ? await token() : token;
      request.headers.set("Authorization", `Bearer ${value}`);
      return request;
    },
  };
  client.use(auth);
  return client;
}
