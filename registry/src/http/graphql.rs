//! `/graphql`: GraphQL over HTTP (POST JSON, GET with `?query=`), GraphiQL for browsers.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::problem::Problem;
use super::sparql::{media_type, read_body};
use super::AppState;

fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

pub(super) async fn get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    if req.query_string().is_empty() && wants_html(&req) {
        return Ok(HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(GRAPHIQL_PAGE));
    }
    let request = async_graphql::http::parse_query_string(req.query_string()).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Malformed GraphQL request",
            e.to_string(),
        )
    })?;
    // GET never mutates (GraphQL over HTTP): mutations must be POSTed.
    execute(&req, &state, request.data(crate::graphql::GetRequest)).await
}

/// GraphiQL's page and assets, compiled in (`registry/assets/graphiql/`): the page loads nothing
/// from outside this service.
const GRAPHIQL_PAGE: &str = include_str!("../../assets/graphiql/index.html");
const GRAPHIQL_ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.css"),
    ),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    ),
    (
        "seam-graphiql.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/seam-graphiql.js"),
    ),
];

/// `GET /graphql/assets/{file}`: GraphiQL's scripts and styles.
pub(super) async fn asset(path: web::Path<String>) -> Result<HttpResponse, Problem> {
    let name = path.into_inner();
    let (_, content_type, bytes) = GRAPHIQL_ASSETS.iter().find(|(n, _, _)| *n == name).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "No such resource",
            format!("GET /graphql/assets/{name} is not one of GraphiQL's files"),
        )
    })?;
    Ok(HttpResponse::Ok()
        .content_type(*content_type)
        // The files change only with the binary.
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(*bytes))
}

pub(super) async fn post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let body = read_body(payload, state.config.max_body_bytes).await?;
    let request: async_graphql::Request = match media_type(req.headers()).as_str() {
        "application/json" | "application/graphql-response+json" | "" => serde_json::from_str(&body).map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-request",
                "Malformed GraphQL request",
                format!("the body must be a GraphQL request object: {e}"),
            )
        })?,
        "application/graphql" => async_graphql::Request::new(body),
        other => {
            return Err(Problem::unsupported_media_type(
                "POST /graphql",
                "application/json or application/graphql",
                other,
            ))
        }
    };
    execute(&req, &state, request).await
}

/// The caller the access check put into the request (anonymous if none did).
fn caller(req: &HttpRequest) -> crate::access::Caller {
    use actix_web::HttpMessage as _;
    req.extensions()
        .get::<crate::access::Caller>()
        .cloned()
        .unwrap_or(crate::access::Caller::Anonymous)
}

async fn execute(
    req: &HttpRequest,
    state: &AppState,
    request: async_graphql::Request,
) -> Result<HttpResponse, Problem> {
    let request = crate::graphql::prepare(request, &state.registry, caller(req)).data(state.directory_events.clone());
    let response = state.graphql.execute(request).await;
    Ok(HttpResponse::Ok().content_type("application/json").json(response))
}

/// Largest WebSocket message a client may send (a GraphQL operation, not a file).
const WS_MAX_MESSAGE: usize = 256 * 1024;
/// Most GraphQL WebSocket connections open at once (each holds a task and its subscriptions).
const MOST_SOCKETS: usize = 1024;

/// `GET /graphql/ws`: GraphQL over WebSocket, the graphql-transport-ws protocol (and the older
/// graphql-ws): subscriptions (`rolloutEvents`), queries and mutations. Mutations need the token,
/// from the upgrade request's `Authorization` header or from `connection_init`'s payload
/// (`{"Authorization": "Bearer …"}`: browsers cannot set headers on a WebSocket).
pub(super) async fn ws(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    use async_graphql::http::WebSocketProtocols;

    let protocol = req
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').find_map(|p| p.trim().parse::<WebSocketProtocols>().ok()))
        .ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "websocket-protocol",
                "Unsupported WebSocket subprotocol",
                "ask for the graphql-transport-ws subprotocol (Sec-WebSocket-Protocol: graphql-transport-ws)",
            )
        })?;
    // The route is public (a browser's upgrade carries no header): a token in the header is
    // checked here, and `connection_init` may bring one instead.
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(super::sparql::bearer_token);
    let by_header = state.policy.identify(bearer).map_err(|d| Problem::denied(&d))?;
    let slot = super::Slot::take(&state.graphql_sockets, MOST_SOCKETS).ok_or_else(|| {
        let mut p = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "Too many WebSocket connections",
            format!("{MOST_SOCKETS} GraphQL WebSocket connections are open; try again later"),
        );
        p = p.with("limit", MOST_SOCKETS);
        p
    })?;
    let (mut response, session, messages) = actix_ws::handle(&req, payload).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "not-a-websocket",
            "Not a WebSocket upgrade",
            e.to_string(),
        )
    })?;
    response.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        header::HeaderValue::from_static(protocol.sec_websocket_protocol()),
    );
    let connection = Connection {
        schema: state.graphql.clone(),
        registry: state.registry.clone(),
        policy: state.policy.clone(),
        by_header,
        directory_events: state.directory_events.clone(),
    };
    actix_web::rt::spawn(async move {
        connection.serve(protocol, session, messages).await;
        drop(slot);
    });
    Ok(response)
}

/// One WebSocket connection's GraphQL session.
struct Connection {
    schema: crate::graphql::SeamSchema,
    registry: crate::graph::Registry,
    policy: std::sync::Arc<crate::access::Policy>,
    by_header: crate::access::Caller,
    directory_events: std::sync::Arc<crate::directory::Events>,
}

impl Connection {
    /// Relays frames between the socket and async-graphql's protocol state machine until
    /// either side closes.
    async fn serve(
        self,
        protocol: async_graphql::http::WebSocketProtocols,
        mut session: actix_ws::Session,
        messages: actix_ws::MessageStream,
    ) {
        use async_graphql::futures_util::{stream, StreamExt as _};
        use async_graphql::http::{WebSocket, WsMessage};

        let (to_graphql, from_socket) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
        let input = stream::unfold(from_socket, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
        let Self {
            schema,
            registry,
            policy,
            by_header,
            directory_events,
        } = self;
        let mut graphql = WebSocket::new(schema, input, protocol)
            .on_connection_init(move |payload: serde_json::Value| async move {
                // A token in the payload must be known; without one, the upgrade request's
                // header decides. Closed reads need a token before anything runs.
                let given = ["Authorization", "authorization"]
                    .iter()
                    .find_map(|k| payload.get(*k).and_then(|v| v.as_str()))
                    .and_then(super::sparql::bearer_token);
                let caller = match given {
                    Some(given) => policy
                        .identify(Some(given))
                        .map_err(|d| async_graphql::Error::new(d.to_string()))?,
                    None => by_header,
                };
                policy
                    .check(&caller, crate::access::Access::Read)
                    .map_err(|d| async_graphql::Error::new(d.to_string()))?;
                let (boards, sensors, artifacts) = crate::graphql::loaders(&registry);
                let mut data = async_graphql::Data::default();
                data.insert(caller);
                data.insert(boards);
                data.insert(sensors);
                data.insert(artifacts);
                data.insert(directory_events);
                Ok(data)
            })
            .boxed();
        let mut messages = messages.aggregate_continuations().max_continuation_size(WS_MAX_MESSAGE);
        loop {
            tokio::select! {
                incoming = messages.recv() => match incoming {
                    Some(Ok(actix_ws::AggregatedMessage::Text(text))) => {
                        if to_graphql.send(text.as_bytes().to_vec()).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(actix_ws::AggregatedMessage::Binary(bytes))) => {
                        if to_graphql.send(bytes.to_vec()).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(actix_ws::AggregatedMessage::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(actix_ws::AggregatedMessage::Pong(_))) => {}
                    // A close, a protocol error (an oversized message) or the end: done.
                    Some(Ok(actix_ws::AggregatedMessage::Close(_))) | Some(Err(_)) | None => break,
                },
                outgoing = graphql.next() => match outgoing {
                    Some(WsMessage::Text(text)) => {
                        if session.text(text).await.is_err() {
                            return;
                        }
                    }
                    Some(WsMessage::Close(code, reason)) => {
                        let reason = actix_ws::CloseReason {
                            code: actix_ws::CloseCode::Other(code),
                            description: Some(reason),
                        };
                        let _ = session.close(Some(reason)).await;
                        return;
                    }
                    None => break,
                },
            }
        }
        let _ = session.close(None).await;
    }
}
