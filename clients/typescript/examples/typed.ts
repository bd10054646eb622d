/**
 * The client in typed code, checked by `tsc --noEmit` (`make client`): every path, parameter,
 * body and response here is checked against the schema, and each `@ts-expect-error` line is a
 * mistake the compiler must refuse (if the types stopped catching it, the check would fail).
 */
import {
  ApiError,
  createGroundworkClient,
  fieldErrors,
  unwrap,
  type ErrorEnvelope,
  type GroundworkClient,
  type Schemas,
} from "../src/client.js";

type Project = Schemas["ProjectOutput"];
type ProjectPage = Schemas["ProjectPage"];

/** A client whose token comes from the identity provider's SDK, fresh for each request. */
export function connect(baseUrl: string, getToken: () => Promise<string>): GroundworkClient {
  return createGroundworkClient(baseUrl, getToken);
}

/** One page of my projects, newest first; `search` matches a part of the name. */
export async function listProjects(
  api: GroundworkClient,
  page: { skip: number; limit: number; search?: string },
): Promise<ProjectPage> {
  return unwrap(api.GET("/api/v1/app/projects", { params: { query: page } }));
}

/** Every one of my projects, a page of 100 at a time. */
export async function allProjects(api: GroundworkClient): Promise<Project[]> {
  const projects: Project[] = [];
  for (let skip = 0; ; skip += 100) {
    const page = await listProjects(api, { skip, limit: 100 });
    projects.push(...page.items);
    if (page.items.length === 0 || skip + page.items.length >= page.total) {
      return projects;
    }
  }
}

/** The outcome of a create: the project, or what was wrong with each field. */
export type CreateOutcome =
  | { created: Project }
  | { invalid: Record<string, string> }
  | { failed: string };

/** Creates a project, narrowing the error envelope by its code (no exceptions). */
export async function createProject(
  api: GroundworkClient,
  name: string,
  description: string | null = null,
): Promise<CreateOutcome> {
  const result = await api.POST("/api/v1/app/projects", { body: { name, description } });
  if (result.data !== undefined) {
    return { created: result.data };
  }
  const envelope: ErrorEnvelope | undefined = result.error;
  if (envelope?.error.code === "VALIDATION_ERROR") {
    return {
      invalid: Object.fromEntries(fieldErrors(envelope).map((e) => [e.field, e.message])),
    };
  }
  return { failed: envelope ? describe(envelope) : `HTTP ${result.response.status}` };
}

/** A message for the user, by the envelope's code. */
export function describe(envelope: ErrorEnvelope): string {
  const { code, message, details } = envelope.error;
  switch (code) {
    case "VALIDATION_ERROR":
      return fieldErrors(envelope)
        .map((error) => `${error.field}: ${error.message}`)
        .join("; ");
    case "RATE_LIMIT_EXCEEDED": {
      const retryAfter = details["retry_after"];
      return typeof retryAfter === "number" ? `Try again in ${retryAfter} s.` : message;
    }
    case "NOT_FOUND":
      return `${String(details["resource"] ?? "Resource")} not found.`;
    default:
      return message;
  }
}

/** Renames a project; null when it is gone (deleted, or not mine). */
export async function renameProject(
  api: GroundworkClient,
  projectId: string,
  name: string,
): Promise<Project | null> {
  try {
    return await unwrap(
      api.PATCH("/api/v1/app/projects/{project_id}", {
        params: { path: { project_id: projectId } },
        body: { name },
      }),
    );
  } catch (error) {
    if (error instanceof ApiError && error.code === "NOT_FOUND") {
      return null;
    }
    throw error;
  }
}

/** Mistakes the types refuse (never called). */
export async function mistakes(api: GroundworkClient, project: Project): Promise<void> {
  // @ts-expect-error: no such path
  await api.GET("/api/v1/app/project", {});
  // @ts-expect-error: `limit` is a number
  await api.GET("/api/v1/app/projects", { params: { query: { limit: "20" } } });
  // @ts-expect-error: `name` is required
  await api.POST("/api/v1/app/projects", { body: { description: "no name" } });
  // @ts-expect-error: the path parameter is required
  await api.GET("/api/v1/app/projects/{project_id}");
  // @ts-expect-error: projects are not replaced (no PUT)
  await api.PUT("/api/v1/app/projects/{project_id}", {
    params: { path: { project_id: project.id } },
  });
  // @ts-expect-error: a response's fields are read-only
  project.owner_id = "someone else";
  const page = await listProjects(api, { skip: 0, limit: 20 });
  // @ts-expect-error: a page has `items`, `total`, `skip` and `limit`
  void page.results;
  const { error } = await api.GET("/api/v1/app/users/me");
  // @ts-expect-error: the envelope has `code`, `message` and `details` only
  void error?.error.status;
}
