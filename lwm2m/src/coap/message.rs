//! Plain request and response values, and their conversion to and from coap-lite packets.
//!
//! Handlers and callers see whole bodies: the exchange layer splits and joins blocks, answers
//! duplicates and retransmits, so nothing above it deals with message IDs or Block options.

use std::collections::LinkedList;
use std::net::SocketAddr;
use std::sync::Arc;

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};

use super::block::Block;

/// CoAP Content-Format numbers SEAM speaks (IANA CoAP registry).
pub mod content_format {
    /// `text/plain;charset=utf-8`
    pub const TEXT: u16 = 0;
    /// `application/link-format` (RFC 6690)
    pub const LINK_FORMAT: u16 = 40;
    /// `application/octet-stream` (LwM2M opaque)
    pub const OPAQUE: u16 = 42;
    /// `application/cbor`
    pub const CBOR: u16 = 60;
    /// `application/senml+json` (RFC 8428)
    pub const SENML_JSON: u16 = 110;
    /// `application/senml+cbor` (RFC 8428)
    pub const SENML_CBOR: u16 = 112;
    /// `application/vnd.oma.lwm2m+tlv`
    pub const TLV: u16 = 11542;
    /// `application/vnd.oma.lwm2m+json` (LwM2M 1.0 JSON)
    pub const LWM2M_JSON: u16 = 11543;
}

/// A request as a handler sees it: one whole body, however many blocks it came in.
#[derive(Debug, Clone)]
pub struct Request {
    /// Who sent it.
    pub peer: SocketAddr,
    /// The PSK identity of the DTLS session it came in (`None`: plain CoAP).
    pub identity: Option<std::sync::Arc<str>>,
    /// The method.
    pub method: RequestType,
    /// Uri-Path segments.
    pub path: Vec<String>,
    /// Uri-Query items, undecoded (`key=value` or `key`).
    pub query: Vec<String>,
    /// Content-Format of the payload.
    pub content_format: Option<u16>,
    /// Accept option.
    pub accept: Option<u16>,
    /// Observe option (0 register, 1 deregister).
    pub observe: Option<u32>,
    /// The token the client chose (for Observe notifications).
    pub token: Vec<u8>,
    /// The whole body.
    pub payload: Vec<u8>,
}

impl Request {
    /// A request of `method` for `path` (`"rd"`, `"3/0/1"`, ...), with no body.
    pub fn new(method: RequestType, path: &str) -> Self {
        Self {
            peer: SocketAddr::from(([0, 0, 0, 0], 0)),
            identity: None,
            method,
            path: split_path(path),
            query: Vec::new(),
            content_format: None,
            accept: None,
            observe: None,
            token: Vec::new(),
            payload: Vec::new(),
        }
    }

    /// The value of query parameter `key`, if present (`Some("")` for a bare `key`).
    pub fn query_value(&self, key: &str) -> Option<&str> {
        self.query.iter().find_map(|item| match item.split_once('=') {
            Some((k, v)) if k == key => Some(v),
            None if item == key => Some(""),
            _ => None,
        })
    }

    /// The path joined with `/`, without a leading slash.
    pub fn path_string(&self) -> String {
        self.path.join("/")
    }
}

/// Splits `a/b/c` (leading and trailing slashes ignored) into segments.
pub fn split_path(path: &str) -> Vec<String> {
    path.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// A response as a handler produces it: the whole body, shared so that serving it block by block
/// does not copy it.
#[derive(Debug, Clone)]
pub struct Response {
    /// Response code.
    pub code: ResponseType,
    /// Content-Format of the body.
    pub content_format: Option<u16>,
    /// Location-Path segments (for 2.01 Created).
    pub location_path: Vec<String>,
    /// Observe sequence number, on notifications and on the answer to an Observe registration.
    pub observe: Option<u32>,
    /// The whole body.
    pub payload: Arc<[u8]>,
}

impl Response {
    /// A response with `code` and no body.
    pub fn new(code: ResponseType) -> Self {
        Self {
            code,
            content_format: None,
            location_path: Vec::new(),
            observe: None,
            payload: Arc::from(Vec::new()),
        }
    }

    /// A response carrying `payload` in `content_format`.
    pub fn with_body(code: ResponseType, content_format: u16, payload: impl Into<Arc<[u8]>>) -> Self {
        Self {
            content_format: Some(content_format),
            payload: payload.into(),
            ..Self::new(code)
        }
    }

    /// A diagnostic response: an error code with a short UTF-8 reason (RFC 7252 §5.5.2).
    pub fn error(code: ResponseType, reason: &str) -> Self {
        Self {
            payload: Arc::from(reason.as_bytes()),
            ..Self::new(code)
        }
    }

    /// Whether the code is a success (2.xx).
    pub fn is_success(&self) -> bool {
        !self.code.is_error() && self.code != ResponseType::UnKnown
    }
}

/// What a response packet looked like, for the requesting side.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Response code.
    pub code: ResponseType,
    /// Content-Format of the body.
    pub content_format: Option<u16>,
    /// Location-Path segments.
    pub location_path: Vec<String>,
    /// Observe sequence number, when present.
    pub observe: Option<u32>,
    /// The whole body (all Block2 blocks joined).
    pub payload: Vec<u8>,
    /// The body is only the first block of a larger one (an Observe notification carries just
    /// its first block; RFC 7959 §3.4): the rest must be fetched with a GET.
    pub partial: bool,
}

impl Reply {
    /// Whether the code is a success (2.xx).
    pub fn is_success(&self) -> bool {
        !self.code.is_error() && self.code != ResponseType::UnKnown
    }

    /// `"2.05"`-style code.
    pub fn code_string(&self) -> String {
        MessageClass::Response(self.code).to_string()
    }

    pub(crate) fn from_packet(packet: &Packet) -> Self {
        let code = match packet.header.code {
            MessageClass::Response(code) => code,
            _ => ResponseType::UnKnown,
        };
        Self {
            code,
            content_format: uint_option(packet, CoapOption::ContentFormat).map(|v| v as u16),
            location_path: string_options(packet, CoapOption::LocationPath),
            observe: uint_option(packet, CoapOption::Observe),
            payload: packet.payload.clone(),
            partial: matches!(block_option(packet, CoapOption::Block2), Ok(Some(b)) if b.more),
        }
    }
}

/// The request `packet` (of `method`) from `peer`, in the session of `identity`: its path,
/// query, options, token and this datagram's payload.
pub(crate) fn request_from_packet(
    peer: SocketAddr,
    identity: Option<Arc<str>>,
    method: RequestType,
    packet: Packet,
) -> Request {
    Request {
        peer,
        identity,
        method,
        path: string_options(&packet, CoapOption::UriPath),
        query: string_options(&packet, CoapOption::UriQuery),
        content_format: uint_option(&packet, CoapOption::ContentFormat).map(|v| v as u16),
        accept: uint_option(&packet, CoapOption::Accept).map(|v| v as u16),
        observe: uint_option(&packet, CoapOption::Observe),
        token: packet.get_token().to_vec(),
        payload: packet.payload,
    }
}

/// Reads an unsigned-integer option (0 to 4 bytes); `None` when absent or too long.
pub(crate) fn uint_option(packet: &Packet, option: CoapOption) -> Option<u32> {
    let value = packet.get_first_option(option)?;
    if value.len() > 4 {
        return None;
    }
    Some(value.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

/// Encodes an unsigned-integer option in the fewest bytes.
pub(crate) fn uint_bytes(value: u32) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes[skip..].to_vec()
}

pub(crate) fn string_options(packet: &Packet, option: CoapOption) -> Vec<String> {
    packet
        .get_option(option)
        .map(|values| values.iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect())
        .unwrap_or_default()
}

pub(crate) fn block_option(packet: &Packet, option: CoapOption) -> Result<Option<Block>, ()> {
    match packet.get_first_option(option) {
        None => Ok(None),
        Some(value) => Block::decode(value).map(Some).ok_or(()),
    }
}

pub(crate) fn set_block(packet: &mut Packet, option: CoapOption, block: Block) {
    packet.set_option(option, LinkedList::from([block.encode()]));
}

pub(crate) fn set_uint(packet: &mut Packet, option: CoapOption, value: u32) {
    packet.set_option(option, LinkedList::from([uint_bytes(value)]));
}

/// Builds the request packet (without message ID, type or token) for `request`.
pub(crate) fn request_packet(request: &Request) -> Packet {
    let mut packet = Packet::new();
    packet.header.code = MessageClass::Request(request.method);
    for segment in &request.path {
        packet.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
    }
    for item in &request.query {
        packet.add_option(CoapOption::UriQuery, item.as_bytes().to_vec());
    }
    if let Some(cf) = request.content_format {
        set_uint(&mut packet, CoapOption::ContentFormat, u32::from(cf));
    }
    if let Some(accept) = request.accept {
        set_uint(&mut packet, CoapOption::Accept, u32::from(accept));
    }
    if let Some(observe) = request.observe {
        set_uint(&mut packet, CoapOption::Observe, observe);
    }
    packet
}

/// Fills a response packet's code and options from `response` (the body is set by the caller,
/// which may slice it into a block).
pub(crate) fn fill_response(packet: &mut Packet, response: &Response) {
    packet.header.code = MessageClass::Response(response.code);
    if let Some(observe) = response.observe {
        set_uint(packet, CoapOption::Observe, observe);
    }
    for segment in &response.location_path {
        packet.add_option(CoapOption::LocationPath, segment.as_bytes().to_vec());
    }
    if let Some(cf) = response.content_format {
        set_uint(packet, CoapOption::ContentFormat, u32::from(cf));
    }
}
