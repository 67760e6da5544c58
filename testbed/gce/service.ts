import { HANDLERS, type Handler } from "./api.js";
import { router, type DiscoveryDoc } from "./discovery.js";
import { checkBody, checkParameters, type Violation } from "./schema.js";
import { GceError, type ComputeState } from "./state.js";

/**
 * One Compute API call, checked both ways against Google's schema: path and query parameters and the body
 * on the way in (a violation is the client's: 400 naming the field), the body on the way out (a violation
 * is the stand-in's bug: 500). Both kinds are recorded for tests to assert on. Injected faults answer in
 * place of the API. No sockets here: the HTTP layer and the in-process API both call `call`.
 */

export interface Reply {
  status: number;
  body: unknown;
}

/** A recorded schema violation: which side broke it, in which call. */
export interface RecordedViolation extends Violation {
  side: "request" | "response";
  /** Discovery method id, or `METHOD path` when no method matched. */
  call: string;
}

/** One API call as the stand-in saw it (bodies cloned). */
export interface RecordedCall {
  httpMethod: string;
  /** Below the API root (`projects/p/regions/r/...`). */
  path: string;
  query: Record<string, string>;
  methodId?: string;
  body?: unknown;
  status: number;
}

export interface Fault {
  /** 401/403: credentials refused; 429, 500, 503: GCE's transient errors. */
  status: 401 | 403 | 429 | 500 | 503;
  /** Apply the call, then answer the error: a response lost on the way back, what requestId is for. */
  afterApply?: boolean;
}

/** Google's error body. */
export function googleError(
  code: number,
  reason: string,
  message: string,
  extra: Record<string, unknown> = {},
) {
  return { error: { code, message, errors: [{ message, domain: "global", reason, ...extra }] } };
}

export class ComputeService {
  private readonly route: ReturnType<typeof router>;
  private readonly recorded: RecordedViolation[] = [];
  private readonly calls: RecordedCall[] = [];
  private faults: Fault[] = [];

  constructor(
    readonly doc: DiscoveryDoc,
    readonly state: ComputeState,
    private readonly handlers: Record<string, Handler> = HANDLERS,
  ) {
    this.route = router(doc);
  }

  /** The next `count` API calls answer `fault.status` (0 clears). */
  failNext(count: number, fault: Fault) {
    this.faults = Array.from({ length: count }, () => ({ ...fault }));
  }

  violations(): RecordedViolation[] {
    return this.recorded.map((v) => ({ ...v }));
  }

  clearViolations() {
    this.recorded.length = 0;
  }

  requests(): RecordedCall[] {
    return structuredClone(this.calls);
  }

  /** `path` is below the API root (no `/compute/v1/`); `rawBody` as received. */
  async call(httpMethod: string, path: string, query: URLSearchParams, rawBody: string): Promise<Reply> {
    const matched = this.route(httpMethod, path);
    const record: RecordedCall = { httpMethod, path, query: Object.fromEntries(query), status: 0 };
    if (matched) record.methodId = matched.method.id;
    this.calls.push(record);
    const reply = await this.answer(httpMethod, path, query, rawBody, matched, record);
    record.status = reply.status;
    return reply;
  }

  private async answer(
    httpMethod: string,
    path: string,
    query: URLSearchParams,
    rawBody: string,
    matched: ReturnType<ReturnType<typeof router>>,
    record: RecordedCall,
  ): Promise<Reply> {
    if (!matched) {
      return {
        status: 404,
        body: googleError(
          404,
          "notFound",
          `The requested URL /compute/v1/${path} was not found on this server.`,
        ),
      };
    }
    const { method, params } = matched;
    const fault = this.faults.shift();
    if (fault && !fault.afterApply) return faultReply(fault, method.id, path);

    const bad: Violation[] = checkParameters(this.doc, method, { path: params, query });
    let body: unknown;
    if (rawBody.trim()) {
      try {
        body = JSON.parse(rawBody);
        record.body = structuredClone(body);
      } catch (err) {
        bad.push({ path: "", message: `Invalid JSON payload received. ${(err as Error).message}` });
      }
    }
    if (method.request && body === undefined && !bad.length)
      bad.push({ path: "", message: `a request body (${method.request.$ref}) is required` });
    if (!method.request && body !== undefined && !isEmptyObject(body))
      bad.push({ path: "", message: `${method.id} takes no request body` });
    if (method.request && body !== undefined)
      bad.push(
        ...checkBody(this.doc, method.request.$ref, body, { direction: "request", methodId: method.id }),
      );
    if (bad.length) {
      this.recorded.push(...bad.map((v) => ({ ...v, side: "request" as const, call: method.id })));
      const first = bad[0] ?? { path: "", message: "" };
      return {
        status: 400,
        body: {
          error: {
            code: 400,
            message: `Invalid value at '${first.path}': ${first.message}`,
            errors: bad.map((v) => ({
              message: `'${v.path}': ${v.message}`,
              domain: "global",
              reason: "invalid",
            })),
          },
        },
      };
    }

    const handler = this.handlers[method.id];
    if (!handler) {
      return {
        status: 501,
        body: googleError(501, "notImplemented", `${method.id} is not emulated by the Compute stand-in`),
      };
    }
    let out: unknown;
    try {
      out = await handler(this.state, { params, query, body });
    } catch (err) {
      if (err instanceof GceError)
        return { status: err.code, body: googleError(err.code, err.reason, err.message) };
      throw err;
    }
    if (fault) return faultReply(fault, method.id, path);

    const wrong = method.response
      ? checkBody(this.doc, method.response.$ref, out, { direction: "response" })
      : [];
    if (wrong.length) {
      this.recorded.push(...wrong.map((v) => ({ ...v, side: "response" as const, call: method.id })));
      return {
        status: 500,
        body: googleError(
          500,
          "backendError",
          `the Compute stand-in's ${method.response?.$ref ?? ""} response breaks Google's schema: ${wrong
            .map((v) => `'${v.path}': ${v.message}`)
            .join("; ")}`,
        ),
      };
    }
    return { status: 200, body: out };
  }
}

function isEmptyObject(v: unknown): boolean {
  return typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;
}

/** GCE's bodies for the injected statuses. */
function faultReply(fault: Fault, methodId: string, path: string): Reply {
  const s = fault.status;
  if (s === 401) {
    return {
      status: s,
      body: googleError(
        s,
        "authError",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        { location: "Authorization", locationType: "header" },
      ),
    };
  }
  if (s === 403) {
    return {
      status: s,
      body: googleError(
        s,
        "forbidden",
        `Required '${permission(methodId)}' permission for '${resourceOf(path)}'`,
      ),
    };
  }
  if (s === 429) return { status: s, body: googleError(s, "rateLimitExceeded", "Rate Limit Exceeded") };
  if (s === 500) return { status: s, body: googleError(s, "backendError", "Internal Error") };
  return { status: s, body: googleError(s, "backendError", "The service is currently unavailable.") };
}

/** `compute.regionInstanceGroupManagers.resize` → `compute.instanceGroupManagers.update`. */
function permission(methodId: string): string {
  const [, collection = "", verb = ""] = methodId.split(".");
  const resource = collection.replace(/^(region|global)(.)/, (_m, _scope: string, c: string) =>
    c.toLowerCase(),
  );
  const iam = (
    { get: "get", list: "list", listManagedInstances: "get", insert: "create", delete: "delete" } as Record<
      string,
      string
    >
  )[verb];
  return `compute.${resource}.${iam ?? "update"}`;
}

/** The resource a call acts on: its path without a trailing custom verb. */
function resourceOf(path: string): string {
  const parts = path.split("/");
  return parts.length % 2 === 1 ? parts.slice(0, -1).join("/") : path;
}
