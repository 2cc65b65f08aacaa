//! Entry points for the fuzz targets (`fuzz/`): what a datagram from outside reaches, without
//! sockets or a runtime. Each returns nothing; a panic, a hang or a runaway allocation is the
//! finding.

use coap_lite::{CoapOption, MessageClass, Packet};

use crate::coap::message::{block_option, request_from_packet};
use crate::coap::Method;
use crate::content::{self, ResourcePath};
use crate::server::registration::{parse_register, parse_update};

/// A CoAP datagram as the exchange layer reads it, and, when it is a request to the
/// registration interface, as the server parses it.
pub fn coap_datagram(bytes: &[u8]) {
    let Ok(packet) = Packet::from_bytes(bytes) else {
        return;
    };
    let _ = block_option(&packet, CoapOption::Block1);
    let _ = block_option(&packet, CoapOption::Block2);
    let MessageClass::Request(method) = packet.header.code else {
        let _ = crate::coap::Reply::from_packet(&packet);
        return;
    };
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 5683));
    let request = request_from_packet(peer, None, method, packet);
    if method == Method::Post {
        let _ = parse_register(&request, 86_400);
        let _ = parse_update(&request);
    }
    let _ = content::decode(request.content_format, ResourcePath::object(3), &request.payload);
}

/// An LwM2M payload in every content format a client may answer in, read as an object, an
/// instance and a resource.
pub fn lwm2m_payload(bytes: &[u8]) {
    let Some((&format, payload)) = bytes.split_first() else {
        return;
    };
    let formats = [
        crate::coap::content_format::TEXT,
        crate::coap::content_format::OPAQUE,
        crate::coap::content_format::TLV,
        crate::coap::content_format::SENML_JSON,
        crate::coap::content_format::SENML_CBOR,
        crate::coap::content_format::LWM2M_JSON,
        crate::coap::content_format::LINK_FORMAT,
    ];
    let format = formats[usize::from(format) % formats.len()];
    for base in [
        ResourcePath::object(3),
        ResourcePath::instance(3, 0),
        ResourcePath::resource(3, 0, 1),
    ] {
        let _ = content::decode(Some(format), base, payload);
    }
    let _ = content::parse_links(payload);
}
