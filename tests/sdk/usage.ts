// Compiles only if the types openapi-typescript generates from openapi.json say what a client needs
// (tests/sdk/run type-checks it with `tsc --strict`).
import type { components, operations, paths } from "../../target/sdk/ts/homewatch";

type Schemas = components["schemas"];

const check: Schemas["Check"] = { kind: "http", interval_s: 30, method: "GET", expected_status: "200-299" };
const keyword: Schemas["KeywordCheck"] = { kind: "keyword", keyword: "Welcome" };
const tile: Schemas["NewService"] = {
  group_id: 1,
  name: "Jellyfin",
  url: "https://jellyfin.home.lan:8096",
  tags: ["media"],
  check,
};
const patch: Schemas["ServicePatch"] = { icon: null, check: keyword };

// Responses: a tile's check is one of the kinds, or null.
function describe(service: Schemas["Service"]): string {
  const watched = service.check;
  if (watched == null) return `${service.name}: not watched`;
  switch (watched.kind) {
    case "http":
    case "keyword":
      return `${service.name}: ${watched.method ?? "GET"} every ${watched.interval_s ?? 60} s`;
    case "tcp":
      return `${service.name}: tcp ${watched.target ?? service.url}`;
    case "dns":
      return `${service.name}: dns ${watched.record_type ?? "A/AAAA"}`;
    case "tls":
      return `${service.name}: certificate warned ${watched.cert_warn_days ?? 14} days ahead`;
    case "ping":
      return `${service.name}: ${watched.packets ?? 3} pings`;
    case "push":
      return `${service.name}: called ${watched.schedule ?? `every ${watched.interval_s ?? 60} s`}`;
  }
}

type DashboardOk = operations["getDashboard"]["responses"][200]["content"]["application/json; charset=utf-8"];
function summary(dashboard: DashboardOk): number {
  return dashboard.groups.reduce((count, group) => count + group.services.length, 0);
}

type CreateConflict = operations["createGroup"]["responses"][409]["content"]["application/problem+json"];
const problem: CreateConflict = { type: "about:blank", title: "Conflict", status: 409, detail: "taken", errors: [] };
type Paths = keyof paths;
const dashboardPath: Paths = "/dashboard";

export { tile, patch, describe, summary, problem, dashboardPath };
