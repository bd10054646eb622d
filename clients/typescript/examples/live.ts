/**
 * The client against a running server: lists my projects, creates one, reads it back, finds it
 * first in the list, then sends an invalid project and reads the error envelope. Prints a JSON
 * summary; exits 1 when anything differs from the contract.
 *
 *   npm run build && BASE_URL=http://127.0.0.1:8000 TOKEN=$(...) node dist/examples/live.js
 */
import { createGroundworkClient, fieldErrors } from "../src/client.js";

const baseUrl = process.env["BASE_URL"];
const token = process.env["TOKEN"];
if (!baseUrl || !token) {
  console.error("Set BASE_URL (e.g. http://127.0.0.1:8000) and TOKEN (a bearer token).");
  process.exit(2);
}

const problems: string[] = [];
function expect(condition: boolean, problem: string): void {
  if (!condition) {
    problems.push(problem);
  }
}

async function run(): Promise<Record<string, unknown>> {
  const api = createGroundworkClient(baseUrl!, token!);

  const before = await api.GET("/api/v1/app/projects", {
    params: { query: { skip: 0, limit: 1 } },
  });
  if (before.data === undefined) {
    throw new Error(`list: ${before.response.status} ${before.error?.error.code}`);
  }
  const totalBefore = before.data.total;

  const name = `Typed client ${new Date().toISOString()}`;
  const created = await api.POST("/api/v1/app/projects", {
    body: { name, description: "Created through the TypeScript client." },
  });
  if (created.data === undefined) {
    throw new Error(`create: ${created.response.status} ${created.error?.error.code}`);
  }
  const project = created.data;
  expect(created.response.status === 201, `create answered ${created.response.status}`);
  expect(project.name === name, `created name ${JSON.stringify(project.name)}`);

  const read = await api.GET("/api/v1/app/projects/{project_id}", {
    params: { path: { project_id: project.id } },
  });
  expect(read.data?.id === project.id, `read back ${read.response.status}`);
  expect(read.data?.description === project.description, "read back another description");

  const after = await api.GET("/api/v1/app/projects", {
    params: { query: { skip: 0, limit: 1 } },
  });
  const first = after.data?.items[0];
  expect(first?.id === project.id, "the new project is not first in the list");
  expect(after.data?.total === totalBefore + 1, "the total did not grow by one");

  const invalid = await api.POST("/api/v1/app/projects", { body: { name: "" } });
  const envelope = invalid.error;
  const code = envelope?.error.code;
  const fields = envelope ? fieldErrors(envelope).map((error) => error.field) : [];
  expect(invalid.response.status === 422, `invalid project answered ${invalid.response.status}`);
  expect(code === "VALIDATION_ERROR", `invalid project gave ${String(code)}`);
  expect(fields.includes("name"), `invalid fields ${JSON.stringify(fields)}`);

  return {
    project: { id: project.id, name: project.name },
    read_back: read.data?.id === project.id,
    listed_first: first?.id === project.id,
    total_before: totalBefore,
    total_after: after.data?.total ?? null,
    validation_error: {
      status: invalid.response.status,
      code: code ?? null,
      message: envelope?.error.message ?? null,
      fields,
    },
  };
}

try {
  const summary = await run();
  console.log(JSON.stringify({ ok: problems.length === 0, problems, ...summary }));
} catch (error) {
  problems.push(error instanceof Error ? error.message : String(error));
  console.log(JSON.stringify({ ok: false, problems }));
}
process.exitCode = problems.length === 0 ? 0 : 1;
