import { trace, type Attributes, type Link, type SpanContext } from '@opentelemetry/api';
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_ROUTE, ATTR_URL_PATH } from '@opentelemetry/semantic-conventions';
import type { Connection } from '../model/connection.js';
import { pathOf, routeOf } from '../model/http-activity.js';

/** The attribute names of a connection's last request. */
export const REQUEST_ATTR = {
  method: ATTR_HTTP_REQUEST_METHOD,
  route: ATTR_HTTP_ROUTE,
  urlPath: ATTR_URL_PATH,
  requests: 'tcp.connection.requests',
  handler: 'nodejs.http.request_handler',
} as const;

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
  const route = routeOf(h);
  if (route !== undefined) attributes[REQUEST_ATTR.route] = route;
  else if (!redactUrlPaths) attributes[REQUEST_ATTR.urlPath] = pathOf(h.target);
  return attributes;
}

/** The span context of the span that was active when the application's code got the connection's last request. */
export function requestSpanContext(c: Connection): SpanContext | undefined {
  const spanContext = c.http?.spanContext;
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
