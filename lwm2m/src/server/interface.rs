//! The interface devices call: registration at `/rd` (Register, Update, De-register, with
//! who may register as what over DTLS) and packages at `/pkg/<sha256>`, answered from memory.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::registration::{self, Departure, RegistrationTable};
use super::{PackageShelf, ServerEvent};
use crate::coap::content_format as cf;
use crate::coap::{BoxFuture, Code, Handler, Method, Request, Response};

/// Who may register as what over DTLS: the keys of PSK identities and the endpoint name each
/// identity is provisioned for. An endpoint with credentials registers over DTLS only.
pub trait Credentials: Send + Sync + 'static {
    /// The key of `identity`, if it is provisioned.
    fn key(&self, identity: &[u8]) -> Option<Vec<u8>>;
    /// The endpoint name `identity` may register as.
    fn endpoint_of(&self, identity: &str) -> Option<String>;
    /// Whether `endpoint` has credentials (then plain CoAP may not speak for it).
    fn is_provisioned(&self, endpoint: &str) -> bool;
}

/// The DTLS side of the server reads keys from its credentials.
pub(super) struct CredentialKeys(pub(super) Arc<dyn Credentials>);

impl crate::dtls::PskStore for CredentialKeys {
    fn key(&self, identity: &[u8]) -> Option<Vec<u8>> {
        self.0.key(identity)
    }
}

pub(super) struct ServerHandler {
    pub(super) table: Arc<RegistrationTable>,
    pub(super) events: mpsc::UnboundedSender<ServerEvent>,
    pub(super) shelf: Arc<PackageShelf>,
    pub(super) default_lifetime: u32,
    /// The DTLS credentials, when the server listens on DTLS.
    pub(super) credentials: Option<Arc<dyn Credentials>>,
}

impl Handler for ServerHandler {
    fn handle(&self, request: Request) -> BoxFuture<Response> {
        let response = self.answer(&request);
        Box::pin(async move { response })
    }
}

impl ServerHandler {
    fn answer(&self, request: &Request) -> Response {
        let path: Vec<&str> = request.path.iter().map(String::as_str).collect();
        match (request.method, path.as_slice()) {
            (Method::Post, ["rd"]) => self.register(request),
            (Method::Post, ["rd", id]) => self.update(id, request),
            (Method::Delete, ["rd", id]) if !self.same_session(id, request) => {
                Response::error(Code::Forbidden, "not the session this registration was made in")
            }
            (Method::Delete, ["rd", id]) => self.deregister(id),
            (Method::Get, ["pkg", sha]) => match self.shelf.get(sha) {
                Some(bytes) => Response::with_body(Code::Content, cf::OPAQUE, bytes),
                None => Response::error(Code::NotFound, "no such package"),
            },
            (_, ["rd", ..]) | (_, ["pkg", ..]) => Response::error(Code::MethodNotAllowed, "method not allowed here"),
            _ => Response::new(Code::NotFound),
        }
    }

    fn register(&self, request: &Request) -> Response {
        let registration = match registration::parse_register(request, self.default_lifetime) {
            Ok(r) => r,
            Err(refusal) => return refusal,
        };
        if let Err(refusal) = self.may_register(request, &registration.endpoint) {
            tracing::warn!(peer = %request.peer, endpoint = %registration.endpoint, "registration refused: {refusal}");
            return Response::error(Code::Forbidden, &refusal);
        }
        let peer = registration.address;
        let Some((registration, replaced)) = self.table.insert(registration) else {
            tracing::warn!(%peer, "registration refused: this source already holds the most endpoints one client may");
            return Response::error(
                Code::Forbidden,
                &format!(
                    "this address and port already hold {} registrations of other endpoints",
                    registration::MAX_ENDPOINTS_PER_PEER
                ),
            );
        };
        if let Some(old) = replaced {
            let _ = self.events.send(ServerEvent::Departed {
                registration: old,
                why: Departure::Replaced,
            });
        }
        tracing::debug!(endpoint = %registration.endpoint, id = %registration.id, "registered");
        let mut response = Response::new(Code::Created);
        response.location_path = vec!["rd".to_owned(), registration.id.clone()];
        let _ = self.events.send(ServerEvent::Registered(registration));
        response
    }

    /// A DTLS identity registers as the endpoint it is provisioned for, and an endpoint with
    /// credentials registers over DTLS only.
    fn may_register(&self, request: &Request, endpoint: &str) -> Result<(), String> {
        match (&request.identity, &self.credentials) {
            (Some(identity), Some(credentials)) => match credentials.endpoint_of(identity) {
                Some(own) if own == endpoint => Ok(()),
                Some(own) => Err(format!(
                    "the PSK identity {identity:?} is provisioned for {own:?}, not {endpoint:?}"
                )),
                None => Err(format!("the PSK identity {identity:?} is not provisioned")),
            },
            (Some(_), None) => Err("this server has no DTLS credentials".into()),
            (None, Some(credentials)) if credentials.is_provisioned(endpoint) => Err(format!(
                "{endpoint:?} has DTLS credentials: it registers over coaps:// only"
            )),
            (None, _) => Ok(()),
        }
    }

    /// Update and De-register come over the transport, and from the identity, the
    /// registration was made with.
    fn same_session(&self, id: &str, request: &Request) -> bool {
        self.table
            .get(id)
            .is_none_or(|r| r.identity.as_deref() == request.identity.as_deref())
    }

    fn update(&self, id: &str, request: &Request) -> Response {
        let update = match registration::parse_update(request) {
            Ok(u) => u,
            Err(refusal) => return refusal,
        };
        if !self.same_session(id, request) {
            return Response::error(Code::Forbidden, "not the session this registration was made in");
        }
        match self.table.update(id, update, request.peer) {
            Some(registration) => {
                let _ = self.events.send(ServerEvent::Updated(registration));
                Response::new(Code::Changed)
            }
            // 4.04 tells the client to register again (LwM2M 1.1 §6.2.2).
            None => Response::error(Code::NotFound, "no such registration"),
        }
    }

    fn deregister(&self, id: &str) -> Response {
        match self.table.remove(id) {
            Some(registration) => {
                let _ = self.events.send(ServerEvent::Departed {
                    registration,
                    why: Departure::Deregistered,
                });
                Response::new(Code::Deleted)
            }
            None => Response::error(Code::NotFound, "no such registration"),
        }
    }
}
