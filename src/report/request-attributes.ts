import { createContextKey, trace, type Attributes, type Context, type Link, type SpanContext } from '@opentelemetry/api';
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_ROUTE, ATTR_URL_PATH } from '@opentelemetry/semantic-conventions';
import type { Connection } from '../model/connection.js';
import { pathOf } from '../model/http-activity.js';

/** The attribute names of a connection's last request. */
export const REQUEST_ATTR = {
  method: ATTR_HTTP_REQUEST_METHOD,
  route: ATTR_HTTP_ROUTE,
  urlPath: ATTR_URL_PATH,
  requests: 'tcp.connection.requests',
  handler: 'nodejs.http.request_handler',
} as const;

/**
 * Where the OpenTelemetry HTTP instrumentations keep a server request's route: the context key
 * `@opentelemetry/core` makes for its RPC metadata (an `http.route` the web framework's
 * instrumentation sets while routing). The API makes the same key from the same description.
 */
const RPC_METADATA_KEY = createContextKey('OpenTelemetry SDK Context Key RPC_METADATA');

/** The route an instrumentation set for the request whose context this is, if any. */
export function routeOf(ctx: Context | undefined): string | undefined {
  const metadata = ctx?.getValue(RPC_METADATA_KEY) as { route?: unknown } | undefined;
  const route = metadata?.route;
  return typeof route === 'string' && route !== '' ? route : undefined;
}

/**
 * A connection's last request: `http.request.method`, `http.route` when an instrumentation set
 * one or else `url.path` (query left out; no path at all under `redactUrlPaths`), and
 * `tcp.connection.requests`. Empty for a connection that carried no request.
 */
export function requestAttributes(c: Connection, redactUrlPaths: boolean): Attributes {
  const h = c.http;
  if (h === undefined) return {};
  const attributes: Attributes = { [REQUEST_ATTR.method]: h.method, [REQUEST_ATTR.requests]: h.requests };
  if (h.handler !== undefined) attributes[REQUEST_ATTR.handler] = h.handler;
  const route = routeOf(h.context);
  if (route !== undefined) attributes[REQUEST_ATTR.route] = route;
  else if (!redactUrlPaths) attributes[REQUEST_ATTR.urlPath] = pathOf(h.target);
  return attributes;
}

/** The span context of the span that was active when the application's code got the connection's last request. */
export function requestSpanContext(c: Connection): SpanContext | undefined {
  const ctx = c.http?.context;
  if (ctx === undefined) return undefined;
  const spanContext = trace.getSpanContext(ctx);
  return spanContext !== undefined && trace.isSpanContextValid(spanContext) ? spanContext : undefined;
}

/** A link to that span, for a span about the connection. */
export function requestLinks(c: Connection): Link[] | undefined {
  const spanContext = requestSpanContext(c);
  return spanContext === undefined ? undefined : [{ context: spanContext }];
}

/** `attributes` without the request's path, when `redact` (`redactUrlPaths`). */
export function urlPathRedacted(attributes: Attributes, redact: boolean): Attributes {
  if (!redact || attributes[REQUEST_ATTR.urlPath] === undefined) return attributes;
  const kept: Attributes = { ...attributes };
  delete kept[REQUEST_ATTR.urlPath];
  return kept;
}
